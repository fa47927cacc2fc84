package status

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

var t0 = testutil.Epoch

// rollout is a Rollout whose second generation is rolling out, with a 60 s progress deadline.
func rollout(replicas int32) *stepwisev1alpha1.Rollout {
	return testutil.Rollout("web").Replicas(replicas).Generation(2).ProgressDeadline(60).Obj()
}

func compute(ro *stepwisev1alpha1.Rollout, newRS *appsv1.ReplicaSet, old *appsv1.ReplicaSet, created bool, now time.Time) stepwisev1alpha1.RolloutStatus {
	return Compute(Input{Rollout: ro, Replicas: *ro.Spec.Replicas, MaxUnavailable: 1, NewRS: newRS, AllRSs: []*appsv1.ReplicaSet{old, newRS},
		CreatedNewRS: created, EvaluateProgress: true, Now: now})
}

func TestProgressThroughARollout(t *testing.T) {
	g := NewWithT(t)
	ro := rollout(3)
	newRS, oldRS := testutil.ReplicaSet(ro, "v2").Revision(2), testutil.ReplicaSet(ro, "v1")
	// Revision 1 was complete.
	ro.Status = stepwisev1alpha1.RolloutStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}
	ro.Status = compute(ro, newRS.Replicas(1).Pods(0).Available(0).Obj(), oldRS.Replicas(2).Pods(3).Available(3).Obj(), true, t0)
	cond := meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionProgressing)
	g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonNewReplicaSetCreated))
	g.Expect(ro.Status.Ready).To(Equal("3/3"))
	g.Expect(ro.Status.UnavailableReplicas).To(Equal(int32(0)))
	g.Expect(meta.IsStatusConditionTrue(ro.Status.Conditions, stepwisev1alpha1.ConditionAvailable)).To(BeTrue())
	g.Expect(meta.IsStatusConditionTrue(ro.Status.Conditions, stepwisev1alpha1.ConditionComplete)).To(BeFalse())

	// Progress: a new pod updated.
	ro.Status = compute(ro, newRS.Replicas(2).Pods(1).Available(1).Obj(), oldRS.Replicas(2).Available(2).Obj(), false, t0.Add(30*time.Second))
	cond = meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionProgressing)
	g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonReplicaSetUpdated))
	g.Expect(ro.Status.LastProgressTime.Time).To(Equal(t0.Add(30 * time.Second)))
	g.Expect(RequeueAfter(ro, &ro.Status, nil, 3, t0.Add(40*time.Second))).To(Equal(51 * time.Second))

	// Stuck past the deadline.
	ro.Status = compute(ro, newRS.Replicas(2).Pods(1).Available(1).Obj(), oldRS.Replicas(2).Available(2).Obj(), false, t0.Add(91*time.Second))
	cond = meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionProgressing)
	g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonProgressDeadlineExceeded))
	g.Expect(RequeueAfter(ro, &ro.Status, nil, 3, t0.Add(92*time.Second))).To(BeZero())
	complete := meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionComplete)
	g.Expect(complete.Reason).To(Equal(stepwisev1alpha1.ReasonRolloutFailed))

	// Done.
	ro.Status = compute(ro, newRS.Replicas(3).Available(3).Obj(), oldRS.Replicas(0).Available(0).Obj(), false, t0.Add(100*time.Second))
	cond = meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionProgressing)
	g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonNewReplicaSetAvailable))
	complete = meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionComplete)
	g.Expect(complete.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(complete.ObservedGeneration).To(Equal(int64(2)))
	g.Expect(ro.Status.CurrentRevision).To(Equal(int64(2)))
}

func TestPauseAndResumeConditions(t *testing.T) {
	g := NewWithT(t)
	ro := rollout(2)
	ro.Spec.Paused = true
	stable := testutil.ReplicaSet(ro, "v1").Replicas(2).Available(2).Obj()
	ro.Status = Compute(Input{Rollout: ro, Replicas: 2, AllRSs: []*appsv1.ReplicaSet{stable}, Now: t0})
	cond := meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionProgressing)
	g.Expect(cond.Status).To(Equal(metav1.ConditionUnknown))
	g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonRolloutPaused))
	ro.Spec.Paused = false
	ro.Status = Compute(Input{Rollout: ro, Replicas: 2, AllRSs: []*appsv1.ReplicaSet{stable}, Now: t0.Add(time.Minute)})
	cond = meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionProgressing)
	g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonRolloutResumed))
	g.Expect(ro.Status.LastProgressTime.Time).To(Equal(t0.Add(time.Minute)), "resuming restarts the deadline")
}

func TestViewMatchesKubectlRolloutStatus(t *testing.T) {
	for _, tc := range []struct {
		name                                string
		generation, observed                int64
		replicas, updated, total, available int32
		deadlineExceeded                    bool
		want                                string
		done, failed                        bool
	}{
		{"spec not observed", 3, 2, 3, 3, 3, 3, false, "Waiting for rollout spec update to be observed...", false, false},
		{"updating", 2, 2, 3, 1, 4, 3, false, `Waiting for rollout "web" to finish: 1 out of 3 new replicas have been updated...`, false, false},
		{"old pending", 2, 2, 3, 3, 4, 3, false, `Waiting for rollout "web" to finish: 1 old replicas are pending termination...`, false, false},
		{"available pending", 2, 2, 3, 3, 3, 2, false, `Waiting for rollout "web" to finish: 2 of 3 updated replicas are available...`, false, false},
		{"done", 2, 2, 3, 3, 3, 3, false, `rollout "web" successfully rolled out`, true, false},
		{"deadline", 2, 2, 3, 1, 4, 3, true, "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ro := rollout(tc.replicas)
			ro.Generation = tc.generation
			ro.Status = stepwisev1alpha1.RolloutStatus{ObservedGeneration: tc.observed, UpdatedReplicas: tc.updated, Replicas: tc.total, AvailableReplicas: tc.available}
			if tc.deadlineExceeded {
				meta.SetStatusCondition(&ro.Status.Conditions, metav1.Condition{Type: stepwisev1alpha1.ConditionProgressing, Status: metav1.ConditionFalse, Reason: stepwisev1alpha1.ReasonProgressDeadlineExceeded})
			}
			msg, done, err := View(ro)
			g.Expect(msg).To(Equal(tc.want))
			g.Expect(done).To(Equal(tc.done))
			g.Expect(err != nil).To(Equal(tc.failed))
		})
	}
}

// One wave of a rolling update at maxSurge 1, maxUnavailable 0, as the ReplicaSet controller
// reports it: counts wait while it has pods to delete, not while it has pods to create.
func TestReplicaSetCountsPendingWhileTheReplicaSetControllerHasPodsToDelete(t *testing.T) {
	g := NewWithT(t)
	ro := rollout(10)
	newRS := testutil.ReplicaSet(ro, "v2").Revision(2).Replicas(7).Pods(6).Available(6).Obj()
	oldRS := testutil.ReplicaSet(ro, "v1").Replicas(4).Pods(5).Available(5).Generation(2, 1).Obj()
	g.Expect(ReplicaSetCountsPending([]*appsv1.ReplicaSet{newRS, oldRS})).To(BeTrue(), "the scale-down is not yet reported")

	oldRS.Status.ObservedGeneration = 2
	g.Expect(ReplicaSetCountsPending([]*appsv1.ReplicaSet{newRS, oldRS})).To(BeTrue(), "reported, but the pod is not yet deleted")

	oldRS.Status.Replicas, oldRS.Status.ReadyReplicas, oldRS.Status.AvailableReplicas = 4, 4, 4
	g.Expect(ReplicaSetCountsPending([]*appsv1.ReplicaSet{newRS, oldRS})).To(BeFalse(), "a pod to create holds nothing back")

	oldRS.Status.Replicas = 5
	oldRS.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionFalse}}
	g.Expect(ReplicaSetCountsPending([]*appsv1.ReplicaSet{newRS, oldRS})).To(BeTrue(), "no failure")
	newRS.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate"}}
	g.Expect(ReplicaSetCountsPending([]*appsv1.ReplicaSet{newRS, oldRS})).To(BeTrue(), "another ReplicaSet's failure")
	oldRS.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedDelete"}}
	g.Expect(ReplicaSetCountsPending([]*appsv1.ReplicaSet{newRS, oldRS})).To(BeFalse(), "deleting failed: the counts may stay as they are")

	oldRS.Status.Conditions = nil
	oldRS.DeletionTimestamp = &metav1.Time{Time: t0}
	g.Expect(ReplicaSetCountsPending([]*appsv1.ReplicaSet{newRS, oldRS})).To(BeFalse(), "the ReplicaSet controller deletes no pods of a ReplicaSet being deleted")

	unsized := testutil.ReplicaSet(ro, "v3").Pods(1).Available(1).Obj()
	unsized.Spec.Replicas = nil
	g.Expect(ReplicaSetCountsPending([]*appsv1.ReplicaSet{unsized})).To(BeFalse(), "an unset size is 1")
	unsized.Status.Replicas = 2
	g.Expect(ReplicaSetCountsPending([]*appsv1.ReplicaSet{unsized})).To(BeTrue())
}

// A reconcile that scaled, or for which ReplicaSetCountsPending, leaves a change of counts
// unwritten (freshness.CountsPending): the next reconcile computes from the same stored status, so
// the progress the counts show is recorded then, and nothing else may be held back.
func TestOnlyCountsChangedIsTheChangeANextReconcileWritesAgain(t *testing.T) {
	g := NewWithT(t)
	ro := rollout(3)
	newRS, oldRS := testutil.ReplicaSet(ro, "v2").Revision(2), testutil.ReplicaSet(ro, "v1")
	ro.Status = stepwisev1alpha1.RolloutStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}
	started := compute(ro, newRS.Replicas(1).Pods(0).Available(0).Obj(), oldRS.Replicas(2).Pods(3).Available(3).Obj(), true, t0)
	g.Expect(OnlyCountsChanged(&ro.Status, &started)).To(BeFalse(), "a new generation observed, a new ReplicaSet")
	ro.Status = started

	first := compute(ro, newRS.Replicas(1).Available(1).Obj(), oldRS.Replicas(2).Available(2).Obj(), false, t0.Add(time.Second))
	g.Expect(OnlyCountsChanged(&ro.Status, &first)).To(BeFalse(), "Progressing's reason moves from NewReplicaSetCreated to ReplicaSetUpdated")
	ro.Status = first

	moved := compute(ro, newRS.Replicas(2).Available(2).Obj(), oldRS.Replicas(1).Available(1).Obj(), false, t0.Add(2*time.Second))
	g.Expect(moved.UpdatedReplicas).To(Equal(int32(2)))
	g.Expect(OnlyCountsChanged(&ro.Status, &moved)).To(BeTrue())

	// Left unwritten, the same progress is found and timed by the next reconcile.
	again := compute(ro, newRS.Replicas(2).Available(2).Obj(), oldRS.Replicas(1).Available(1).Obj(), false, t0.Add(3*time.Second))
	g.Expect(again.UpdatedReplicas).To(Equal(int32(2)))
	g.Expect(again.LastProgressTime.Time).To(Equal(t0.Add(3 * time.Second)))

	// Fewer available pods than allowed turns Available False: a condition, written at once.
	unavailable := compute(ro, newRS.Replicas(2).Available(0).Obj(), oldRS.Replicas(1).Available(1).Obj(), false, t0.Add(2*time.Second))
	g.Expect(meta.IsStatusConditionFalse(unavailable.Conditions, stepwisev1alpha1.ConditionAvailable)).To(BeTrue())
	g.Expect(OnlyCountsChanged(&ro.Status, &unavailable)).To(BeFalse())
}
