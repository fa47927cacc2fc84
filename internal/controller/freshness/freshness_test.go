package freshness

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

func reasonOf(err error) Reason {
	if w := (*Wait)(nil); errors.As(err, &w) {
		return w.Reason
	}
	return ""
}

func TestCheckRollout(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := stepwisev1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	canary := func() *stepwisev1alpha1.Rollout {
		return testutil.Rollout("web").Namespace("ns").Steps(stepwisev1alpha1.CanaryStep{Replicas: ptr.To(intstr.FromString("20%"))}).Obj()
	}
	blueGreen := stepwisev1alpha1.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview"}
	abortedWithoutSteps := testutil.Rollout("web").Namespace("ns").Obj()
	abortedWithoutSteps.Status.Canary = &stepwisev1alpha1.CanaryStatus{Aborted: true}
	for _, tc := range []struct {
		name    string
		cached  *stepwisev1alpha1.Rollout
		stored  bool // the API server has the Rollout
		bump    bool // ... at a newer version than the cache
		want    Reason
		wantErr bool
	}{
		{name: "a plain rolling update plans from its ReplicaSets and is never re-read", cached: testutil.Rollout("web").Namespace("ns").Obj()},
		{name: "steps, cache current", cached: canary(), stored: true},
		{name: "steps, cache behind", cached: canary(), stored: true, bump: true, want: RolloutBehindAPIServer},
		{name: "steps, already deleted", cached: canary(), want: RolloutBehindAPIServer},
		{name: "no steps, but canary state recorded (an abort), cache behind", cached: abortedWithoutSteps, stored: true, bump: true, want: RolloutBehindAPIServer},
		{name: "blue-green, cache behind", cached: testutil.Rollout("web").Namespace("ns").BlueGreen(blueGreen).Obj(), stored: true, bump: true, want: RolloutBehindAPIServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			builder := fake.NewClientBuilder().WithScheme(scheme)
			if tc.stored {
				builder = builder.WithObjects(tc.cached.DeepCopy())
			}
			reader := builder.Build()
			cached := tc.cached.DeepCopy()
			if tc.stored {
				g.Expect(reader.Get(context.Background(), client.ObjectKeyFromObject(cached), cached)).To(Succeed())
			}
			if tc.bump {
				newer := cached.DeepCopy()
				newer.Labels = map[string]string{"touched": "yes"}
				g.Expect(reader.Update(context.Background(), newer)).To(Succeed())
			}
			var tracker Tracker
			err := tracker.CheckRollout(context.Background(), reader, cached)
			g.Expect(reasonOf(err)).To(Equal(tc.want))
			if tc.want == "" {
				g.Expect(err).NotTo(HaveOccurred())
			}
		})
	}
}

func TestCheckRolloutReturnsReadErrors(t *testing.T) {
	g := NewWithT(t)
	ro := testutil.Rollout("web").Namespace("ns").BlueGreen(stepwisev1alpha1.BlueGreenStrategy{ActiveService: "active"}).Obj()
	var tracker Tracker
	err := tracker.CheckRollout(context.Background(), failingReader{}, ro)
	g.Expect(err).To(MatchError(ContainSubstring("re-reading Rollout")))
	g.Expect(reasonOf(err)).To(BeEmpty(), "an API failure is an error, not a wait")
}

type failingReader struct{ client.Reader }

func (failingReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return apierrors.NewServiceUnavailable("etcd is down")
}

func TestCheckReplicaSetsWaitsUntilTheCacheHasTheControllersOwnScale(t *testing.T) {
	g := NewWithT(t)
	var tracker Tracker
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", UID: "rs-1", Generation: 3}}
	other := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-2", UID: "rs-2", Generation: 1}}
	g.Expect(tracker.CheckReplicaSets([]*appsv1.ReplicaSet{rs, other})).To(Succeed(), "nothing scaled yet")

	scaled := rs.DeepCopy()
	scaled.Generation = 4
	tracker.Scaled(scaled)
	g.Expect(reasonOf(tracker.CheckReplicaSets([]*appsv1.ReplicaSet{rs, other}))).To(Equal(ReplicaSetBehindOwnScale))
	g.Expect(tracker.CheckReplicaSets([]*appsv1.ReplicaSet{scaled, other})).To(Succeed(), "the cache caught up")
	g.Expect(tracker.CheckReplicaSets([]*appsv1.ReplicaSet{rs, other})).To(Succeed(), "a caught-up scale is forgotten")
}

func TestCheckStatusWrite(t *testing.T) {
	before := testutil.Rollout("web").Namespace("ns").Obj()
	before.ResourceVersion = "10"
	before.Status.Replicas = 3
	countsMoved := before.DeepCopy()
	countsMoved.Status.Replicas = 4
	conditionMoved := before.DeepCopy()
	meta.SetStatusCondition(&conditionMoved.Status.Conditions, metav1.Condition{Type: stepwisev1alpha1.ConditionAvailable, Status: metav1.ConditionTrue, Reason: "MinimumReplicasAvailable"})
	for _, tc := range []struct {
		name          string
		after         *stepwisev1alpha1.Rollout
		countsPending bool
		replaced      string // the version the last status write replaced
		want          Reason
	}{
		{name: "counts moved, nothing on its way", after: countsMoved},
		{name: "counts moved, a ReplicaSet status write on its way", after: countsMoved, countsPending: true, want: CountsPending},
		{name: "a condition moved: written even with counts pending", after: conditionMoved, countsPending: true},
		{name: "computed from the version the last status write replaced", after: conditionMoved, replaced: "10", want: StatusFromReplacedRollout},
		{name: "computed from a newer version than the last write replaced", after: conditionMoved, replaced: "9"},
		{name: "counts pending is decided first", after: countsMoved, countsPending: true, replaced: "10", want: CountsPending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var tracker Tracker
			if tc.replaced != "" {
				tracker.StatusWritten(client.ObjectKeyFromObject(before), tc.replaced)
			}
			err := tracker.CheckStatusWrite(before, tc.after, tc.countsPending)
			g.Expect(reasonOf(err)).To(Equal(tc.want))
			if tc.want == "" {
				g.Expect(err).NotTo(HaveOccurred())
			}
		})
	}
}

func TestStatusWriteHintIsDroppedOnceTheCacheMovesOnOrTheRolloutIsGone(t *testing.T) {
	g := NewWithT(t)
	var tracker Tracker
	at := func(version string) *stepwisev1alpha1.Rollout {
		ro := testutil.Rollout("web").Namespace("ns").Obj()
		ro.ResourceVersion = version
		return ro
	}
	changed := at("10")
	changed.Status.ObservedGeneration = 2
	key := client.ObjectKeyFromObject(changed)

	tracker.StatusWritten(key, "10")
	g.Expect(tracker.CheckStatusWrite(at("11"), changed, false)).To(Succeed(), "a newer version: the hint is dropped")
	g.Expect(tracker.CheckStatusWrite(at("10"), changed, false)).To(Succeed(), "and not used again")

	tracker.StatusWritten(key, "10")
	tracker.Forget(key)
	g.Expect(tracker.CheckStatusWrite(at("10"), changed, false)).To(Succeed(), "forgotten with the Rollout")
}

// Settle ends a reconcile: each wait is logged once, at V(4), with its reason's name, and
// dropped; every other error is returned.
func TestSettle(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "stepwise.dev", Resource: "rollouts"}, "web", errors.New("stale"))
	failure := errors.New("scaling ReplicaSet ns/web-1: etcd is down")
	for _, tc := range []struct {
		name     string
		errs     []error
		wantErr  error
		wantLogs []string
	}{
		{name: "nothing to say", errs: []error{nil, nil}},
		{name: "a wait in the reconcile", errs: []error{WaitFor(ReplicaSetBehindOwnScale, nil), nil},
			wantLogs: []string{`"level"=4 "msg"="Deferring to a later reconcile" "reason"="ReplicaSetBehindOwnScale"`}},
		{name: "a wrapped wait and a status conflict", errs: []error{fmt.Errorf("applying: %w", WaitFor(NewReplicaSetNotCached, nil)), WaitFor(StatusConflict, conflict)},
			wantLogs: []string{
				`"level"=4 "msg"="Deferring to a later reconcile" "reason"="NewReplicaSetNotCached"`,
				`"level"=4 "msg"="Deferring to a later reconcile" "cause"="Operation cannot be fulfilled on rollouts.stepwise.dev \"web\": stale" "reason"="StatusConflict"`,
			}},
		{name: "a real failure is kept beside a wait", errs: []error{failure, WaitFor(CountsPending, nil)}, wantErr: failure,
			wantLogs: []string{`"level"=4 "msg"="Deferring to a later reconcile" "reason"="CountsPending"`}},
		{name: "a failure joined with a wait is a failure", errs: []error{errors.Join(WaitFor(NamespaceTerminating, nil), failure)},
			wantErr: failure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var logs []string
			log := funcr.New(func(prefix, args string) { logs = append(logs, args) }, funcr.Options{Verbosity: 10})
			err := Settle(logr.NewContext(context.Background(), log), tc.errs...)
			if tc.wantErr == nil {
				g.Expect(err).NotTo(HaveOccurred())
			} else {
				g.Expect(err).To(MatchError(tc.wantErr))
			}
			g.Expect(logs).To(Equal(tc.wantLogs))
		})
	}
}
