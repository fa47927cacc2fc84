package rollout

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/controller/analysisrun"
)

// CacheOptions keep the manager's cache to what the reconcilers read: pods (watched only once
// a Rollout has progress gates or abortOn) as name, version and controller; ReplicaSets and
// Jobs another controller owns as metadata only; no managedFields on any object. docs/architecture.md
// ("What the controller caches") says why each is safe.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:        {Transform: trimPod},
			&appsv1.ReplicaSet{}: {Transform: trimForeignReplicaSet},
			&batchv1.Job{}:       analysisrun.JobCacheOptions(),
		},
	}
}

// controllerIndex indexes cached ReplicaSets by the UID of the Rollout that controls them,
// orphans under orphanKey and those of a Deployment under deploymentKey(its name): a
// reconcile copies out its own ReplicaSets and the orphans it may adopt, not every ReplicaSet
// of the namespace (copying them all costs CPU in proportion to the Rollouts sharing a
// namespace), and those of the Deployment of its own name only to wait while that Deployment
// still holds the ReplicaSets it is to adopt (a migration).
const (
	controllerIndex = "stepwise.dev/controller"
	orphanKey       = "orphan"
)

func deploymentKey(name string) string { return "deployment/" + name }

// isDeployment reports whether an owner reference points at a Deployment.
func isDeployment(ref *metav1.OwnerReference) bool {
	return ref.APIVersion == appsv1.SchemeGroupVersion.String() && ref.Kind == "Deployment"
}

func indexByController(obj client.Object) []string {
	switch ref := metav1.GetControllerOf(obj); {
	case ref == nil:
		return []string{orphanKey}
	case isRollout(ref):
		return []string{string(ref.UID)}
	case isDeployment(ref):
		return []string{deploymentKey(ref.Name)}
	}
	return nil
}

// podWatchersIndex holds the Rollouts that look at their pods (progress gates, abortOn) under
// "true", and those that count terminating pods (Recreate, TerminationComplete) under
// "terminating", which look at pods only on a server whose ReplicaSets do not report them: the
// only ones a pod event may concern.
const podWatchersIndex = "stepwise.dev/watches-pods"

func indexByPodWatchers(obj client.Object) []string {
	ro, ok := obj.(*stepwisev1alpha1.Rollout)
	if !ok {
		return nil
	}
	var keys []string
	if len(ro.Spec.ProgressGates) > 0 || ro.Spec.AbortOn != nil {
		keys = append(keys, "true")
	}
	if ro.Spec.Strategy.Type == stepwisev1alpha1.RecreateRolloutStrategyType || ro.Spec.PodReplacementPolicy == stepwisev1alpha1.PodReplacementPolicyTerminationComplete {
		keys = append(keys, "terminating")
	}
	return keys
}

// trimPod keeps what maps a pod event to its Rollout (podWatcherForPod): the key, the
// version the event predicate compares, and the controller.
func trimPod(obj any) (any, error) {
	pod, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil // a tombstone: already trimmed when it was cached
	}
	trimmed := &metav1.PartialObjectMetadata{TypeMeta: pod.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name:            pod.Name,
		Namespace:       pod.Namespace,
		ResourceVersion: pod.ResourceVersion,
	}}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		trimmed.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return trimmed, nil
}

func trimForeignReplicaSet(obj any) (any, error) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return obj, nil
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || isRollout(ref) {
		rs.ManagedFields = nil
		return rs, nil
	}
	return &appsv1.ReplicaSet{TypeMeta: rs.TypeMeta, ObjectMeta: trimmedMeta(rs.ObjectMeta)}, nil
}

// isRollout reports whether an owner reference points at a Rollout.
func isRollout(ref *metav1.OwnerReference) bool {
	return ref.APIVersion == stepwisev1alpha1.GroupVersion.String() && ref.Kind == "Rollout"
}

// trimmedMeta keeps what identifies an object, selects it and says who owns it.
func trimmedMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:              m.Name,
		Namespace:         m.Namespace,
		UID:               m.UID,
		ResourceVersion:   m.ResourceVersion,
		Generation:        m.Generation,
		CreationTimestamp: m.CreationTimestamp,
		DeletionTimestamp: m.DeletionTimestamp,
		Labels:            m.Labels,
		OwnerReferences:   m.OwnerReferences,
	}
}
