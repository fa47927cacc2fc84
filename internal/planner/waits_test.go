package planner

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/status"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// waitStart is when every wait below begins: 900 ms into a second, the worst case for a time
// the API server keeps in whole seconds.
var waitStart = time.Date(2026, 1, 1, 10, 0, 0, 900_000_000, time.UTC)

// timedWait is a rollout whose first reconcile starts a wait of duration; its ReplicaSets stay
// as they are while it runs.
type timedWait struct {
	name     string
	duration time.Duration
	rollout  *stepwisev1alpha1.Rollout
	rss      []*appsv1.ReplicaSet
	// selectors are the pod-template-hash each Service selects (blue-green).
	selectors map[string]string
	// waiting tells from a reconcile's plan and status whether the wait still holds.
	waiting func(Plan, *stepwisev1alpha1.RolloutStatus) bool
}

// Each timed wait, started at a fractional second, holds at every moment before its duration
// has passed at full precision, the controller never asks to look again before then, and the
// wait is over when it looks again, at most a second late. Between reconciles the Rollout goes
// through JSON, as the API server keeps it: times in whole seconds.
func TestTimedWaitsNeverEndEarly(t *testing.T) {
	for _, w := range timedWaits() {
		t.Run(w.name, func(t *testing.T) {
			g := NewWithT(t)
			end := waitStart.Add(w.duration)
			c := newWaitCluster(w)
			g.Expect(c.reconcile(t, waitStart)).To(BeTrue(), "the wait starts")

			var moments []time.Duration // after the start, up to just before its end
			for elapsed := 100 * time.Millisecond; elapsed < w.duration; elapsed += 100 * time.Millisecond {
				moments = append(moments, elapsed)
			}
			moments = append(moments, w.duration-time.Nanosecond)
			var lookAgain time.Duration
			for _, elapsed := range moments {
				g.Expect(c.reconcile(t, waitStart.Add(elapsed))).To(BeTrue(), "the wait ended %v after it started", elapsed)
				lookAgain = elapsed + c.requeue
				g.Expect(lookAgain).To(BeNumerically(">=", w.duration), "%v after the start, the controller looks again in %v", elapsed, c.requeue)
			}
			g.Expect(c.reconcile(t, waitStart.Add(lookAgain))).To(BeFalse(), "the wait is over when the controller looks again, %v after it started", lookAgain)

			late := newWaitCluster(w)
			g.Expect(late.reconcile(t, waitStart)).To(BeTrue())
			g.Expect(late.reconcile(t, end.Add(time.Second))).To(BeFalse(), "a second after its end the wait is over")
		})
	}
}

// A wait started on a whole second ends exactly at its duration: rounding up adds nothing.
func TestTimedWaitsStartedOnAWholeSecondEndOnTime(t *testing.T) {
	start := waitStart.Truncate(time.Second)
	for _, w := range timedWaits() {
		t.Run(w.name, func(t *testing.T) {
			g := NewWithT(t)
			c := newWaitCluster(w)
			g.Expect(c.reconcile(t, start)).To(BeTrue())
			g.Expect(c.reconcile(t, start.Add(w.duration-time.Nanosecond))).To(BeTrue())
			// A nanosecond past it: the progress deadline passes once it is strictly behind.
			g.Expect(c.reconcile(t, start.Add(w.duration+time.Nanosecond))).To(BeFalse())
		})
	}
}

func timedWaits() []timedWait {
	canary := testutil.Rollout("web").Replicas(10).Image("v2").Steps(stepwisev1alpha1.CanaryStep{
		Replicas: ptr.To(intstr.FromInt32(1)), Pause: &stepwisev1alpha1.CanaryPause{DurationSeconds: ptr.To[int32](5)}}).Obj()

	blueGreen := func(bg stepwisev1alpha1.BlueGreenStrategy) *stepwisev1alpha1.Rollout {
		bg.ActiveService, bg.PreviewService = "active", "preview"
		return testutil.Rollout("web").Replicas(3).Image("v2").BlueGreen(bg).Obj()
	}
	autoPromoted := blueGreen(stepwisev1alpha1.BlueGreenStrategy{AutoPromotionSeconds: ptr.To[int32](5)})
	promoted := blueGreen(stepwisev1alpha1.BlueGreenStrategy{ScaleDownDelaySeconds: ptr.To[int32](10)})
	promoted.Status.Canary = &stepwisev1alpha1.CanaryStatus{PodTemplateHash: status.CurrentHash(promoted), CurrentStep: 1}
	promotedFrom := waitRS(promoted, "v1", 1).Replicas(3).Available(3).Obj()
	bgHashes := map[string]string{"active": templateHash(promoted, "v1"), "preview": templateHash(promoted, "v2")}

	stuck := testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("0").Image("v2").ProgressDeadline(10).Obj()

	return []timedWait{{
		name: "canary pause durationSeconds 5", duration: 5 * time.Second, rollout: canary,
		rss: []*appsv1.ReplicaSet{
			waitRS(canary, "v1", 1).Replicas(9).Available(9).Obj(),
			waitRS(canary, "v2", 2).Replicas(1).Available(1).Obj(),
		},
		waiting: func(plan Plan, _ *stepwisev1alpha1.RolloutStatus) bool {
			return plan.Hold != nil && plan.Hold.Reason == stepwisev1alpha1.ReasonCanaryPauseStep
		},
	}, {
		name: "blue-green autoPromotionSeconds 5", duration: 5 * time.Second, rollout: autoPromoted,
		rss: []*appsv1.ReplicaSet{
			waitRS(autoPromoted, "v1", 1).Replicas(3).Available(3).Obj(),
			waitRS(autoPromoted, "v2", 2).Replicas(3).Available(3).Obj(),
		},
		selectors: bgHashes,
		waiting: func(plan Plan, _ *stepwisev1alpha1.RolloutStatus) bool {
			return plan.Hold != nil && plan.Hold.Reason == stepwisev1alpha1.ReasonAwaitingPromotion
		},
	}, {
		name: "blue-green scaleDownDelaySeconds 10", duration: 10 * time.Second, rollout: promoted,
		rss:       []*appsv1.ReplicaSet{promotedFrom, waitRS(promoted, "v2", 2).Replicas(3).Available(3).Obj()},
		selectors: bgHashes,
		waiting: func(plan Plan, _ *stepwisev1alpha1.RolloutStatus) bool {
			for _, step := range plan.Scale {
				if step.ReplicaSet == promotedFrom.Name && step.To == 0 {
					return false
				}
			}
			return true
		},
	}, {
		name: "progressDeadlineSeconds 10", duration: 10 * time.Second, rollout: stuck,
		rss: []*appsv1.ReplicaSet{
			waitRS(stuck, "v1", 1).Replicas(3).Available(3).Obj(),
			waitRS(stuck, "v2", 2).Replicas(1).Obj(), // its pod never becomes available
		},
		waiting: func(_ Plan, st *stepwisev1alpha1.RolloutStatus) bool {
			return meta.FindStatusCondition(st.Conditions, stepwisev1alpha1.ConditionProgressing).Reason != stepwisev1alpha1.ReasonProgressDeadlineExceeded
		},
	}}
}

// waitRS is ro's ReplicaSet for image at revision, with its pod-template-hash label and last
// scaled for ro's size, so that the planner sees no scaling event.
func waitRS(ro *stepwisev1alpha1.Rollout, image string, revision int64) *testutil.ReplicaSetBuilder {
	params, err := Resolve(ro)
	if err != nil {
		panic(err)
	}
	return testutil.ReplicaSet(ro, image).Revision(revision).Hash(templateHash(ro, image)).
		LastScaledFor(params.Replicas, params.Replicas+params.MaxSurge)
}

// hashOf is the pod-template-hash of ro's template running image.
func templateHash(ro *stepwisev1alpha1.Rollout, image string) string {
	template := ro.Spec.Template.DeepCopy()
	template.Spec.Containers[0].Image = image
	return revision.ComputeHash(template, nil)
}

// waitCluster is what the controller sees of a timedWait across reconciles: the Rollout as
// the API server keeps it, and the Services' selectors.
type waitCluster struct {
	w         timedWait
	ro        *stepwisev1alpha1.Rollout
	selectors map[string]string
	// requeue is when the last reconcile asked to look again (0: not at all).
	requeue time.Duration
}

func newWaitCluster(w timedWait) *waitCluster {
	selectors := map[string]string{}
	for service, hash := range w.selectors {
		selectors[service] = hash
	}
	return &waitCluster{w: w, ro: w.rollout.DeepCopy(), selectors: selectors}
}

// reconcile does at now what the controller does: plan, switch Services, write the status
// (through JSON), compute when to look again. It reports whether the wait still holds.
func (c *waitCluster) reconcile(t *testing.T, now time.Time) bool {
	t.Helper()
	owned := make([]*appsv1.ReplicaSet, 0, len(c.w.rss))
	for _, rs := range c.w.rss {
		owned = append(owned, rs.DeepCopy())
	}
	snap := SplitNewAndOld(c.ro.DeepCopy(), owned)
	snap.Now, snap.ActiveHash, snap.PreviewHash = now, c.selectors["active"], c.selectors["preview"]
	plan, err := For(snap)
	if err != nil {
		t.Fatal(err)
	}
	for _, sw := range plan.Services {
		c.selectors[sw.Service] = sw.To
	}
	st := status.Compute(plan.StatusInput(c.ro, plan.CreateNew != nil, now))
	c.requeue = Earliest(plan.RequeueAfter, status.RequeueAfter(c.ro, &st, plan.AllRSs, plan.Params.Replicas, now))
	waiting := c.w.waiting(plan, &st)

	c.ro.Status = st
	data, err := json.Marshal(c.ro)
	if err != nil {
		t.Fatal(err)
	}
	c.ro = &stepwisev1alpha1.Rollout{}
	if err := json.Unmarshal(data, c.ro); err != nil {
		t.Fatal(err)
	}
	return waiting
}
