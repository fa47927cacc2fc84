package rollout

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/planner"
)

// SetupWithManager registers the reconciler with workers reconciling at once, and its
// watches: Rollouts, and ReplicaSets, which wake the Rollout that controls them or, for an
// orphan, every Rollout that could adopt it. The manager's cache should use CacheOptions.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(context.Background(), &appsv1.ReplicaSet{}, controllerIndex, indexByController); err != nil {
		return fmt.Errorf("indexing ReplicaSets by controller: %w", err)
	}
	if err := indexer.IndexField(context.Background(), &stepwisev1alpha1.AnalysisRun{}, controllerIndex, indexByController); err != nil {
		return fmt.Errorf("indexing AnalysisRuns by controller: %w", err)
	}
	if err := indexer.IndexField(context.Background(), &stepwisev1alpha1.Rollout{}, podWatchersIndex, indexByPodWatchers); err != nil {
		return fmt.Errorf("indexing Rollouts by progress gates: %w", err)
	}
	c, err := ctrl.NewControllerManagedBy(mgr).
		For(&stepwisev1alpha1.Rollout{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Watches(&appsv1.ReplicaSet{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsForReplicaSet),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Owns(&stepwisev1alpha1.AnalysisRun{}, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Build(r)
	if err != nil {
		return err
	}
	// Pods are watched as metadata only (CacheOptions), and only once a Rollout has progress
	// gates or abortOn: every pod write of the cluster (several per replaced pod, from the scheduler,
	// the kubelet and the ReplicaSet controller) is an event to decode, a large share of the
	// controller's CPU in a big rollout (docs/performance.md).
	pods := &metav1.PartialObjectMetadata{}
	pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	r.podWatch = &lazyWatch{start: func(ctx context.Context) error {
		ctrl.LoggerFrom(ctx).V(1).Info("Watching pods, for the first Rollout with progress gates or abortOn")
		return c.Watch(source.Kind(mgr.GetCache(), client.Object(pods), handler.EnqueueRequestsFromMapFunc(r.podWatcherForPod),
			predicate.ResourceVersionChangedPredicate{}))
	}}
	return nil
}

// podWatcherForPod maps a pod to the Rollout whose ReplicaSet controls it, only when that
// Rollout has progress gates or abortOn, or counts terminating pods the ReplicaSets do not
// report: someone setting a gate condition, a container restarting or waiting, or a pod
// finishing its termination (before Kubernetes 1.35), are pod changes the ReplicaSet's own
// status does not report. Most
// namespaces have no such Rollout, and one index lookup settles those without copying
// anything out of the cache.
func (r *Reconciler) podWatcherForPod(ctx context.Context, pod client.Object) []reconcile.Request {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return nil
	}
	keys := []string{"true"}
	if r.countsTerminatingPods.Load() {
		keys = append(keys, "terminating")
	}
	gated := &stepwisev1alpha1.RolloutList{}
	for _, key := range keys {
		list := &stepwisev1alpha1.RolloutList{}
		if err := r.List(ctx, list, client.InNamespace(pod.GetNamespace()), client.MatchingFields{podWatchersIndex: key}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing Rollouts that look at their pods, for a pod", "Pod", klog.KObj(pod))
			return nil
		}
		gated.Items = append(gated.Items, list.Items...)
	}
	if len(gated.Items) == 0 {
		return nil
	}
	rs := &appsv1.ReplicaSet{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: pod.GetNamespace(), Name: ref.Name}, rs); err != nil {
		return nil // gone, or not cached yet: its own events follow
	}
	owner := metav1.GetControllerOf(rs)
	if owner == nil || !isRollout(owner) {
		return nil
	}
	for i := range gated.Items {
		if ro := &gated.Items[i]; ro.UID == owner.UID {
			return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(ro)}}
		}
	}
	return nil
}

// rolloutsForReplicaSet maps a ReplicaSet to the Rollouts that must look at it: its own, every
// one that could adopt an orphan, and for a Deployment's ReplicaSet the Rollout of that
// Deployment's name, which may be waiting for it to be orphaned or deleted (a migration).
func (r *Reconciler) rolloutsForReplicaSet(ctx context.Context, obj client.Object) []reconcile.Request {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		key := client.ObjectKey{Namespace: obj.GetNamespace(), Name: ref.Name}
		switch {
		case isRollout(ref):
			return []reconcile.Request{{NamespacedName: key}}
		case isDeployment(ref) && r.Get(ctx, key, &stepwisev1alpha1.Rollout{}) == nil: // most Deployments have none: no copy
			return []reconcile.Request{{NamespacedName: key}}
		}
		return nil
	}
	rollouts := &stepwisev1alpha1.RolloutList{}
	if err := r.List(ctx, rollouts, client.InNamespace(obj.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing Rollouts for an orphaned ReplicaSet", "ReplicaSet", klog.KObj(obj))
		return nil
	}
	var requests []reconcile.Request
	for i := range rollouts.Items {
		if planner.Selects(&rollouts.Items[i], obj.GetLabels()) {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&rollouts.Items[i])})
		}
	}
	return requests
}

// lazyWatch starts a watch once, when first needed; a failed start is tried again.
type lazyWatch struct {
	mu      sync.Mutex
	started bool
	start   func(context.Context) error
}

func (w *lazyWatch) ensure(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return nil
	}
	if err := w.start(ctx); err != nil {
		return err
	}
	w.started = true
	return nil
}
