package status

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// canaryRollout is a Rollout with two steps whose controller has seen generation 2, at step.
func canaryRollout(step int32, aborted bool) *stepwisev1alpha1.Rollout {
	ro := rollout(10)
	ro.Spec.Strategy.RollingUpdate = &stepwisev1alpha1.RollingUpdateRollout{Steps: []stepwisev1alpha1.CanaryStep{
		{Replicas: ptr.To(intstr.FromInt32(1)), Pause: &stepwisev1alpha1.CanaryPause{}}, {Replicas: ptr.To(intstr.FromString("50%"))}}}
	ro.Status.ObservedGeneration = 2
	ro.Status.Canary = &stepwisev1alpha1.CanaryStatus{PodTemplateHash: CurrentHash(ro), CurrentStep: step, Aborted: aborted}
	return ro
}

func TestPromoteAbortRetry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ro      *stepwisev1alpha1.Rollout
		change  func(*stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error)
		want    *stepwisev1alpha1.CanaryStatus // PodTemplateHash filled in
		wantErr string
	}{
		{name: "promote goes to the next step", ro: canaryRollout(0, false), change: promote(false),
			want: &stepwisev1alpha1.CanaryStatus{CurrentStep: 1}},
		{name: "promote --full skips every step", ro: canaryRollout(0, false), change: promote(true),
			want: &stepwisev1alpha1.CanaryStatus{CurrentStep: 2}},
		{name: "no step left", ro: canaryRollout(2, false), change: promote(false), wantErr: `rollout "web" is past its last canary step`},
		{name: "promote an aborted rollout", ro: canaryRollout(0, true), change: promote(false), wantErr: "run 'kubectl stepwise retry' first"},
		{name: "promote before the controller saw the template", ro: unobserved(canaryRollout(0, false)), change: promote(false),
			wantErr: "has not observed generation 3"},
		{name: "promote a state recorded for another template", ro: otherTemplate(canaryRollout(0, false)), change: promote(false),
			wantErr: "no canary state for its current template yet"},
		{name: "promote without steps", ro: rollout(3), change: promote(false), wantErr: "has no canary steps"},
		{name: "abort keeps the step", ro: canaryRollout(1, false), change: Abort,
			want: &stepwisev1alpha1.CanaryStatus{CurrentStep: 1, Aborted: true, AbortReason: "aborted with kubectl stepwise abort"}},
		{name: "abort without steps records a state", ro: rolloutInProgress(), change: Abort,
			want: &stepwisev1alpha1.CanaryStatus{Aborted: true, AbortReason: "aborted with kubectl stepwise abort"}},
		{name: "abort twice", ro: canaryRollout(1, true), change: Abort, wantErr: "already aborted"},
		{name: "abort a complete rollout", ro: complete(rollout(3)), change: Abort, wantErr: "is complete: nothing to abort"},
		{name: "abort a Recreate", ro: recreate(rolloutInProgress()), change: Abort, wantErr: "uses the Recreate strategy"},
		{name: "retry starts over", ro: canaryRollout(1, true), change: Retry, want: &stepwisev1alpha1.CanaryStatus{Attempt: 1}},
		{name: "retry what was not aborted", ro: canaryRollout(1, false), change: Retry, wantErr: "is not aborted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			before := tc.ro.DeepCopy()
			got, err := tc.change(tc.ro)
			g.Expect(tc.ro).To(Equal(before), "the Rollout is not modified")
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			tc.want.PodTemplateHash = CurrentHash(tc.ro)
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func promote(full bool) func(*stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error) {
	return func(ro *stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error) { return Promote(ro, full) }
}

func unobserved(ro *stepwisev1alpha1.Rollout) *stepwisev1alpha1.Rollout {
	ro.Generation = 3
	return ro
}

func otherTemplate(ro *stepwisev1alpha1.Rollout) *stepwisev1alpha1.Rollout {
	ro.Spec.Template.Labels = map[string]string{"app": "web", "version": "2"}
	return ro
}

func rolloutInProgress() *stepwisev1alpha1.Rollout {
	ro := rollout(3)
	ro.Status = stepwisev1alpha1.RolloutStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3}
	return ro
}

func complete(ro *stepwisev1alpha1.Rollout) *stepwisev1alpha1.Rollout {
	ro.Status = stepwisev1alpha1.RolloutStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}
	return ro
}

func recreate(ro *stepwisev1alpha1.Rollout) *stepwisev1alpha1.Rollout {
	ro.Spec.Strategy.Type = stepwisev1alpha1.RecreateRolloutStrategyType
	return ro
}

// Past the progress deadline: Rollback aborts (the stable revision gets every pod back), Pause
// asks the controller to set spec.paused, None (or nothing) only reports it.
func TestProgressDeadlineActions(t *testing.T) {
	for _, action := range []stepwisev1alpha1.ProgressDeadlineAction{"", stepwisev1alpha1.ProgressDeadlineActionNone,
		stepwisev1alpha1.ProgressDeadlineActionPause, stepwisev1alpha1.ProgressDeadlineActionRollback} {
		t.Run(string(action), func(t *testing.T) {
			g := NewWithT(t)
			ro := rollout(3)
			ro.Spec.ProgressDeadlineAction = action
			// Stuck: the same counters as the ReplicaSets below show.
			ro.Status = stepwisev1alpha1.RolloutStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3}
			ro.Status.Conditions = []metav1.Condition{{Type: stepwisev1alpha1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: stepwisev1alpha1.ReasonReplicaSetUpdated}}
			ro.Status.LastProgressTime = &metav1.Time{Time: t0}
			newRS, oldRS := testutil.ReplicaSet(ro, "v2").Revision(2).Replicas(1).Available(0).Obj(), testutil.ReplicaSet(ro, "v1").Replicas(3).Available(3).Obj()
			st := compute(ro, newRS, oldRS, false, t0.Add(61*time.Second))
			g.Expect(meta.FindStatusCondition(st.Conditions, stepwisev1alpha1.ConditionProgressing).Reason).To(Equal(stepwisev1alpha1.ReasonProgressDeadlineExceeded))
			g.Expect(PauseOnDeadline(ro, &st)).To(Equal(action == stepwisev1alpha1.ProgressDeadlineActionPause))
			if action != stepwisev1alpha1.ProgressDeadlineActionRollback {
				g.Expect(st.Canary).To(BeNil())
				return
			}
			g.Expect(st.Canary).To(Equal(&stepwisev1alpha1.CanaryStatus{PodTemplateHash: CurrentHash(ro), Aborted: true,
				AbortReason: "the progress deadline passed (progressDeadlineAction: Rollback)"}))
		})
	}
}
