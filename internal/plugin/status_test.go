package plugin

import (
	"context"
	"errors"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// serverWatches stands in for the API server's watches: the n-th Watch call gets the n-th
// list of events, after which the server closes that watch; calls beyond the lists get a watch
// that stays open and silent. Each call's options are recorded in opened.
func serverWatches(opened *[]string, watches ...[]watch.Event) interceptor.Funcs {
	return interceptor.Funcs{Watch: func(_ context.Context, _ client.WithWatch, _ client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
		lo := (&client.ListOptions{}).ApplyOptions(opts)
		if opened != nil {
			*opened = append(*opened, fmt.Sprintf("namespace=%s %s resourceVersion=%s", lo.Namespace, lo.FieldSelector, lo.Raw.ResourceVersion))
		}
		if len(watches) == 0 {
			return watch.NewFake(), nil
		}
		events := watches[0]
		watches = watches[1:]
		w := watch.NewFakeWithChanSize(len(events), false)
		for _, ev := range events {
			w.Action(ev.Type, ev.Object)
		}
		w.Stop()
		return w, nil
	}}
}

// modified is a watch event of web at resourceVersion, edited by changes.
func modified(resourceVersion string, changes ...func(*stepwisev1alpha1.Rollout)) watch.Event {
	ro := webRollout(changes...)
	ro.ResourceVersion = resourceVersion
	return watch.Event{Type: watch.Modified, Object: ro}
}

// updated sets the status counters: updated of 3 replicas updated, available of them available.
func updated(updated, available int32) func(*stepwisev1alpha1.Rollout) {
	return func(ro *stepwisev1alpha1.Rollout) {
		ro.Status.UpdatedReplicas, ro.Status.AvailableReplicas = updated, available
	}
}

func withCondition(conditionType string, status metav1.ConditionStatus, reason, message string) func(*stepwisev1alpha1.Rollout) {
	return func(ro *stepwisev1alpha1.Rollout) {
		meta.SetStatusCondition(&ro.Status.Conditions, metav1.Condition{Type: conditionType, Status: status, Reason: reason, Message: message})
	}
}

func TestStatus(t *testing.T) {
	const (
		complete     = `rollout "web" successfully rolled out` + "\n"
		oneUpdated   = `Waiting for rollout "web" to finish: 1 out of 3 new replicas have been updated...` + "\n"
		twoUpdated   = `Waiting for rollout "web" to finish: 2 out of 3 new replicas have been updated...` + "\n"
		twoAvailable = `Waiting for rollout "web" to finish: 2 of 3 updated replicas are available...` + "\n"
	)
	deadlineExceeded := withCondition(stepwisev1alpha1.ConditionProgressing, metav1.ConditionFalse, stepwisev1alpha1.ReasonProgressDeadlineExceeded, "no progress for 600s")
	runVerbCases(t, []verbCase{
		{name: "complete: exit 0 without watching", objs: objects(webRollout()), args: []string{"status", "web"},
			wantOut: complete},
		{name: "--watch=false reports once", objs: objects(webRollout(updated(1, 1))), args: []string{"status", "web", "--watch=false"},
			wantOut: oneUpdated},
		{name: "watches until complete, printing each change once", objs: objects(webRollout(updated(1, 1))), args: []string{"status", "web"},
			funcs: serverWatches(nil, []watch.Event{
				modified("11", updated(1, 1)), modified("12", updated(2, 1)), modified("13", updated(3, 2)), modified("14"),
			}),
			wantOut: oneUpdated + twoUpdated + twoAvailable + complete},
		{name: "waits for a new generation to be observed", objs: objects(webRollout(func(ro *stepwisev1alpha1.Rollout) { ro.Generation = 2 })),
			args:    []string{"status", "web"},
			funcs:   serverWatches(nil, []watch.Event{modified("11", func(ro *stepwisev1alpha1.Rollout) { ro.Generation, ro.Status.ObservedGeneration = 2, 2 })}),
			wantOut: "Waiting for rollout spec update to be observed...\n" + complete},
		{name: "waits at a canary pause",
			objs:    objects(webRollout(updated(1, 1), withCondition(stepwisev1alpha1.ConditionPaused, metav1.ConditionTrue, stepwisev1alpha1.ReasonCanaryPauseStep, "Paused at step 1 of 2"))),
			args:    []string{"status", "web", "--watch=false"},
			wantOut: `Waiting for rollout "web": Paused at step 1 of 2...` + "\n"},
		{name: "progress deadline exceeded: exit 1", objs: objects(webRollout(updated(1, 1))), args: []string{"status", "web"},
			funcs:   serverWatches(nil, []watch.Event{modified("11", updated(1, 1), deadlineExceeded)}),
			wantOut: oneUpdated,
			wantErr: `rollout "web" exceeded its progress deadline`},
		{name: "an invalid spec: exit 1",
			objs:    objects(webRollout(withCondition(stepwisev1alpha1.ConditionInvalidSpec, metav1.ConditionTrue, "InvalidSpec", "maxSurge and maxUnavailable are both 0"))),
			args:    []string{"status", "web"},
			wantErr: `rollout "web" has an invalid spec: maxSurge and maxUnavailable are both 0`},
		{name: "an aborted rollout: exit 1",
			objs:    objects(webRollout(updated(1, 1), withCondition(stepwisev1alpha1.ConditionPaused, metav1.ConditionTrue, stepwisev1alpha1.ReasonRolloutAborted, "aborted with kubectl stepwise abort"))),
			args:    []string{"status", "web"},
			wantErr: `rollout "web" was aborted: aborted with kubectl stepwise abort`},
		{name: "--timeout passes: exit 1", objs: objects(webRollout(updated(1, 1))), args: []string{"status", "web", "--timeout=10ms"},
			funcs:   serverWatches(nil),
			wantOut: oneUpdated,
			wantErr: "timed out waiting for the condition"},
		{name: "the Rollout is deleted while watched", objs: objects(webRollout(updated(1, 1))), args: []string{"status", "web"},
			funcs:   serverWatches(nil, []watch.Event{{Type: watch.Deleted, Object: webRollout(updated(1, 1))}}),
			wantOut: oneUpdated,
			wantErr: "the Rollout was deleted"},
		{name: "the watch cannot start", objs: objects(webRollout(updated(1, 1))), args: []string{"status", "web"},
			funcs: interceptor.Funcs{Watch: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
				return nil, errors.New("watch refused")
			}},
			wantOut: oneUpdated,
			wantErr: "watch refused"},
		{name: "--revision running", objs: objects(webRollout()), args: []string{"status", "web", "--revision=1"},
			wantOut: complete},
		{name: "--revision not running: exit 1", objs: objects(webRollout()), args: []string{"status", "web", "--revision=2"},
			wantErr: "desired revision (2) is different from the running revision (1)"},
		{name: "a missing Rollout", args: []string{"status", "web"}, wantErr: notFound},
		{name: "no name", args: []string{"status"}, wantErr: "exactly one ROLLOUT name is required, got 0 arguments"},
	})
}

// A watch the server closes is opened again from the last version seen, so no change is missed
// and none is replayed. A watch that ends with an error event (410 Gone: that version is too
// old to resume from) starts over without a version, from the current state the server sends
// first; resuming from the same version would fail the same way forever.
func TestStatusReopensItsWatch(t *testing.T) {
	tooOld := watch.Event{Type: watch.Error, Object: &metav1.Status{Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version: 11 (20)"}}
	for _, tc := range []struct {
		name       string
		watches    [][]watch.Event
		wantOpened []string
	}{
		{name: "closed by the server",
			watches:    [][]watch.Event{{modified("11", updated(2, 2))}, {modified("12", updated(3, 2))}, {modified("13")}},
			wantOpened: []string{"resourceVersion=11", "resourceVersion=12"}},
		{name: "ended by an error event",
			watches:    [][]watch.Event{{modified("11", updated(2, 2))}, {modified("12", updated(3, 2)), tooOld}, {modified("21", updated(3, 2)), modified("22")}},
			wantOpened: []string{"resourceVersion=11", "resourceVersion="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var opened []string
			c := newFakeClient(t, serverWatches(&opened, tc.watches...), webRollout(updated(1, 1)))
			stored := storedRollout(t, c)

			out, err := runPlugin(t, c, "status", "web")

			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(Equal(`Waiting for rollout "web" to finish: 1 out of 3 new replicas have been updated...
Waiting for rollout "web" to finish: 2 out of 3 new replicas have been updated...
Waiting for rollout "web" to finish: 2 of 3 updated replicas are available...
rollout "web" successfully rolled out
`))
			var wantOpened []string
			for _, version := range append([]string{"resourceVersion=" + stored.ResourceVersion}, tc.wantOpened...) {
				wantOpened = append(wantOpened, "namespace=shop metadata.name=web "+version)
			}
			g.Expect(opened).To(Equal(wantOpened))
		})
	}
}
