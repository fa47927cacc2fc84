package planner

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WithProgressGates returns s with every ReplicaSet's available count replaced by its pods
// that count toward progress (see progressed), for a Rollout with spec.progressGates: the
// planner, the bounds and the status then all wait for the gates. The ReplicaSets are copies;
// pods are the Rollout's pods.
func WithProgressGates(s Snapshot, pods []corev1.Pod) Snapshot {
	gates := s.Rollout.Spec.ProgressGates
	if len(gates) == 0 {
		return s
	}
	gated := func(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
		out := rs.DeepCopy()
		out.Status.AvailableReplicas = 0
		for i := range pods {
			if metav1.IsControlledBy(&pods[i], rs) && progressed(&pods[i], gates, rs.Spec.MinReadySeconds, s.Now) {
				out.Status.AvailableReplicas++
			}
		}
		return out
	}
	return s.withReplicaSets(gated)
}

// progressed reports whether a pod counts toward progress: not terminating, Ready for at
// least minReadySeconds at now (the ReplicaSet controller's "available"), and every gate
// condition True.
//
//	Ready since 10:00:00, minReadySeconds 5, now 10:00:04 → not yet
//	Ready since 10:00:00, minReadySeconds 5, now 10:00:05, gate True → counts
func progressed(pod *corev1.Pod, gates []string, minReadySeconds int32, now time.Time) bool {
	if pod.DeletionTimestamp != nil {
		return false
	}
	status := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range pod.Status.Conditions {
		status[c.Type] = c
	}
	ready, ok := status[corev1.PodReady]
	if !ok || ready.Status != corev1.ConditionTrue ||
		ready.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).After(now) {
		return false
	}
	for _, gate := range gates {
		if status[corev1.PodConditionType(gate)].Status != corev1.ConditionTrue {
			return false
		}
	}
	return true
}
