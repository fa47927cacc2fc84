package planner

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// NeedsTerminatingPods reports whether planning s needs each ReplicaSet's terminating pods
// counted from the pods themselves: the rollout is under way, its strategy waits for
// terminating pods (Recreate starts no new pod while an old one terminates;
// podReplacementPolicy TerminationComplete counts them against replicas + maxSurge), and a
// ReplicaSet does not report status.terminatingReplicas (off before Kubernetes 1.35).
func NeedsTerminatingPods(s Snapshot) bool {
	params, err := Resolve(s.Rollout)
	if err != nil || s.Rollout.Spec.Paused || len(s.Old) == 0 {
		return false
	}
	waits := params.Strategy == stepwisev1alpha1.RecreateRolloutStrategyType ||
		(params.Strategy == stepwisev1alpha1.RollingUpdateRolloutStrategyType && params.PodReplacement == stepwisev1alpha1.PodReplacementPolicyTerminationComplete)
	st := s.Rollout.Status
	complete := st.ObservedGeneration >= s.Rollout.Generation && st.UpdatedReplicas == params.Replicas && st.Replicas == params.Replicas
	if !waits || complete {
		return false
	}
	for _, rs := range s.All() {
		if unreported(rs) {
			return true
		}
	}
	return false
}

// unreported: the ReplicaSet controller has synced rs but reports no terminating pods count.
func unreported(rs *appsv1.ReplicaSet) bool {
	return rs.Status.ObservedGeneration > 0 && rs.Status.TerminatingReplicas == nil
}

// WithTerminatingPods returns s with status.terminatingReplicas filled in, from pods (the
// Rollout's, metadata suffices), on every ReplicaSet that does not report it: the planner and
// the status then count terminating pods as on a server that reports them. The ReplicaSets are
// copies.
func WithTerminatingPods(s Snapshot, pods []metav1.PartialObjectMetadata) Snapshot {
	counted := func(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
		if !unreported(rs) {
			return rs
		}
		out := rs.DeepCopy()
		out.Status.TerminatingReplicas = ptr.To[int32](0)
		for i := range pods {
			if pods[i].DeletionTimestamp != nil && metav1.IsControlledBy(&pods[i], rs) {
				*out.Status.TerminatingReplicas++
			}
		}
		return out
	}
	return s.withReplicaSets(counted)
}
