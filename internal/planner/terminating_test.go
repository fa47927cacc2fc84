package planner

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// On a server whose ReplicaSets do not report terminating pods, a Recreate rollout counts
// them from the pods, and starts no new pod while one terminates.
func TestRecreateCountsTerminatingPodsTheReplicaSetsDoNotReport(t *testing.T) {
	ro := testutil.Rollout("web").Replicas(2).Image("app:v2").Recreate().Generation(2).Obj()
	old := testutil.ReplicaSet(ro, "app:v1").Obj() // scaled down, its pods gone from status.replicas
	old.Status.TerminatingReplicas = nil           // not reported (before Kubernetes 1.35)
	snap := Snapshot{Rollout: ro, Old: []*appsv1.ReplicaSet{old}}
	if !NeedsTerminatingPods(snap) {
		t.Fatal("a Recreate rollout under way, a ReplicaSet without terminatingReplicas: the pods must be read")
	}

	terminating := metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "web-appv1-a", DeletionTimestamp: &metav1.Time{},
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(old, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}}}
	counted := WithTerminatingPods(snap, []metav1.PartialObjectMetadata{terminating})
	if got := ptr.Deref(counted.Old[0].Status.TerminatingReplicas, -1); got != 1 {
		t.Fatalf("terminating pods counted: %d, want 1", got)
	}
	if old.Status.TerminatingReplicas != nil {
		t.Error("WithTerminatingPods changed the snapshot's ReplicaSet instead of a copy")
	}
	if plan, err := For(counted); err != nil || plan.CreateNew != nil {
		t.Fatalf("a new ReplicaSet planned while an old pod terminates: %+v, %v", plan.CreateNew, err)
	}
	if plan, err := For(WithTerminatingPods(snap, nil)); err != nil || plan.CreateNew == nil {
		t.Fatalf("no new ReplicaSet once no old pod is left: %v", err)
	}

	for name, tc := range map[string]struct {
		snap  func() Snapshot
		needs bool
	}{
		"reported by the ReplicaSet": {func() Snapshot {
			s := Snapshot{Rollout: ro, Old: []*appsv1.ReplicaSet{old.DeepCopy()}}
			s.Old[0].Status.TerminatingReplicas = ptr.To[int32](0)
			return s
		}, false},
		"complete": {func() Snapshot {
			done := ro.DeepCopy()
			done.Status = stepwisev1alpha1.RolloutStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2}
			return Snapshot{Rollout: done, Old: []*appsv1.ReplicaSet{old}}
		}, false},
		"a rolling update that counts only pods that exist": {func() Snapshot {
			rolling := testutil.Rollout("web").Replicas(2).Image("app:v2").Generation(2).Obj()
			return Snapshot{Rollout: rolling, Old: []*appsv1.ReplicaSet{old}}
		}, false},
		"a rolling update with TerminationComplete": {func() Snapshot {
			rolling := testutil.Rollout("web").Replicas(2).Image("app:v2").Generation(2).Obj()
			rolling.Spec.PodReplacementPolicy = stepwisev1alpha1.PodReplacementPolicyTerminationComplete
			return Snapshot{Rollout: rolling, Old: []*appsv1.ReplicaSet{old}}
		}, true},
		"a ReplicaSet its controller has yet to sync": {func() Snapshot {
			s := Snapshot{Rollout: ro, Old: []*appsv1.ReplicaSet{old.DeepCopy()}}
			s.Old[0].Status.ObservedGeneration = 0
			return s
		}, false},
	} {
		if got := NeedsTerminatingPods(tc.snap()); got != tc.needs {
			t.Errorf("%s: needs pods %v, want %v", name, got, tc.needs)
		}
	}
}
