package rollout

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/migration"
	"github.com/stepwise-dev/stepwise/internal/planner"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// snapshot is everything the planner may look at, taken at now. It reads the Rollout's
// ReplicaSets from the cache, adopting matching orphans and releasing its own that no longer
// match (ControllerRef semantics; ReplicaSets controlled by anything else are never touched),
// splits them into the new one and the old ones, and waits while the cache is behind the
// controller's own scales. It adds what the Services of a blue-green strategy select.
func (r *Reconciler) snapshot(ctx context.Context, ro *stepwisev1alpha1.Rollout, now time.Time) (planner.Snapshot, error) {
	var candidates []appsv1.ReplicaSet
	for _, key := range []string{string(ro.UID), orphanKey} {
		list := &appsv1.ReplicaSetList{}
		if err := r.List(ctx, list, client.InNamespace(ro.Namespace), client.MatchingFields{controllerIndex: key}); err != nil {
			return planner.Snapshot{}, fmt.Errorf("listing ReplicaSets: %w", err)
		}
		candidates = append(candidates, list.Items...)
	}
	var owned []*appsv1.ReplicaSet
	freshChecked := false
	for i := range candidates {
		rs := &candidates[i]
		matches := planner.Selects(ro, rs.Labels)
		ref := metav1.GetControllerOf(rs)
		switch {
		case ref != nil && ref.UID != ro.UID:
			continue // never listed (see controllerIndex); another controller's to keep
		case ref != nil && matches:
			owned = append(owned, rs)
		case ref != nil:
			if err := r.release(ctx, ro, rs); err != nil {
				return planner.Snapshot{}, err
			}
		case matches && rs.DeletionTimestamp.IsZero():
			// Adopt only for a Rollout that still exists as we see it: the cache may hold a
			// deleted one whose name was reused.
			if !freshChecked {
				if err := r.recheckRollout(ctx, ro); err != nil {
					return planner.Snapshot{}, err
				}
				freshChecked = true
			}
			adopted, err := r.adopt(ctx, ro, rs)
			if err != nil {
				return planner.Snapshot{}, err
			}
			owned = append(owned, adopted)
		}
	}
	if err := r.fresh.CheckReplicaSets(owned); err != nil {
		return planner.Snapshot{}, err
	}
	snap := planner.SplitNewAndOld(ro, owned)
	snap.Now = now
	var err error
	if snap.AnalysisRuns, err = r.analysisRuns(ctx, ro); err != nil {
		return planner.Snapshot{}, err
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		if snap.ActiveHash, err = r.selectedHash(ctx, ro.Namespace, bg.ActiveService); err != nil {
			return planner.Snapshot{}, err
		}
		if snap.PreviewHash, err = r.selectedHash(ctx, ro.Namespace, bg.PreviewService); err != nil {
			return planner.Snapshot{}, err
		}
	}
	return snap, nil
}

// heldByDeployment names a ReplicaSet this Rollout's selector matches that the Deployment of
// the Rollout's name still controls ("" when there is none). While there is one, the Rollout
// changes nothing: it is a migration under way (the Deployment is about to be deleted with
// orphan propagation, or is taking the ReplicaSets over), and planning from the ReplicaSets
// already orphaned would create a new revision, or scale an old one up, beside pods the
// Deployment's ReplicaSet keeps running. Only the Deployment of the same name holds a
// Rollout: any other overlapping Deployment is a conflict the Rollout does not wait on.
func (r *Reconciler) heldByDeployment(ctx context.Context, ro *stepwisev1alpha1.Rollout) (string, error) {
	list := &appsv1.ReplicaSetList{}
	if err := r.List(ctx, list, client.InNamespace(ro.Namespace), client.MatchingFields{controllerIndex: deploymentKey(ro.Name)}); err != nil {
		return "", fmt.Errorf("listing the ReplicaSets of Deployment %s: %w", klog.KObj(ro), err)
	}
	for i := range list.Items {
		if held := &list.Items[i]; held.DeletionTimestamp.IsZero() && planner.Selects(ro, held.Labels) {
			return held.Name, nil
		}
	}
	return "", nil
}

// selectedHash is the pod-template-hash a Service selects ("" when it selects none, or for
// no Service name). It reads past the cache: right after a switch the cache may still show
// the old selector, and acting on it would switch traffic back or scale the active revision
// the wrong way.
func (r *Reconciler) selectedHash(ctx context.Context, namespace, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	svc := &corev1.Service{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, svc); err != nil {
		return "", fmt.Errorf("reading Service %s/%s of the blue-green strategy: %w", namespace, name, err)
	}
	return svc.Spec.Selector[stepwisev1alpha1.PodTemplateHashLabel], nil
}

func (r *Reconciler) recheckRollout(ctx context.Context, ro *stepwisev1alpha1.Rollout) error {
	fresh := &stepwisev1alpha1.Rollout{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(ro), fresh); err != nil {
		return fmt.Errorf("re-reading Rollout before adopting: %w", err)
	}
	if fresh.UID != ro.UID {
		return fmt.Errorf("rollout %s was replaced (UID %s, cached %s): not adopting", klog.KObj(ro), fresh.UID, ro.UID)
	}
	if !fresh.DeletionTimestamp.IsZero() {
		return fmt.Errorf("rollout %s is being deleted: not adopting", klog.KObj(ro))
	}
	return nil
}

// adopt makes the Rollout the controller of an orphaned ReplicaSet that its selector matches.
// A ReplicaSet a Deployment left behind brings its revision numbers along (migration.FromDeployment),
// in the same write, so that history and undo reach the Deployment's revisions.
func (r *Reconciler) adopt(ctx context.Context, ro *stepwisev1alpha1.Rollout, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	ctrl.LoggerFrom(ctx).V(2).Info("Adopting ReplicaSet", "ReplicaSet", klog.KObj(rs), "deploymentRevision", rs.Annotations[migration.DeploymentRevisionAnnotation])
	adopted := rs.DeepCopy()
	adopted.OwnerReferences = append(adopted.OwnerReferences, *metav1.NewControllerRef(ro, stepwisev1alpha1.GroupVersion.WithKind("Rollout")))
	migration.FromDeployment(adopted.Annotations)
	if err := r.Patch(ctx, adopted, client.MergeFromWithOptions(rs, client.MergeFromWithOptimisticLock{})); err != nil {
		return nil, fmt.Errorf("adopting ReplicaSet %s: %w", klog.KObj(rs), err)
	}
	return adopted, nil
}

// release drops the Rollout's controller reference from a ReplicaSet its selector no longer
// matches; the ReplicaSet and its pods live on as orphans.
func (r *Reconciler) release(ctx context.Context, ro *stepwisev1alpha1.Rollout, rs *appsv1.ReplicaSet) error {
	ctrl.LoggerFrom(ctx).V(2).Info("Releasing ReplicaSet", "ReplicaSet", klog.KObj(rs))
	released := rs.DeepCopy()
	released.OwnerReferences = nil
	for _, ref := range rs.OwnerReferences {
		if ref.UID != ro.UID {
			released.OwnerReferences = append(released.OwnerReferences, ref)
		}
	}
	if err := r.Patch(ctx, released, client.MergeFromWithOptions(rs, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("releasing ReplicaSet %s: %w", klog.KObj(rs), err)
	}
	return nil
}

// gateAvailability counts, for a Rollout with progress gates, only the pods whose gates are
// all True as available (planner.WithProgressGates). The pods are read past the cache, which
// holds only their metadata (CacheOptions).
func (r *Reconciler) gateAvailability(ctx context.Context, ro *stepwisev1alpha1.Rollout, snap planner.Snapshot) (planner.Snapshot, error) {
	if len(ro.Spec.ProgressGates) == 0 {
		return snap, nil
	}
	pods := &corev1.PodList{}
	if err := r.listWatchedPods(ctx, ro.Namespace, ro.Spec.Selector, pods); err != nil {
		return snap, fmt.Errorf("listing pods for progress gates: %w", err)
	}
	return planner.WithProgressGates(snap, pods.Items), nil
}

// terminatingPods counts, on a server whose ReplicaSets do not report terminating pods
// (before Kubernetes 1.35), each ReplicaSet's terminating pods from the pods' metadata, read
// past the cache, for a rollout under way that waits for them (planner.NeedsTerminatingPods):
// Recreate then starts no new pod while an old one terminates, as on a newer server.
func (r *Reconciler) terminatingPods(ctx context.Context, ro *stepwisev1alpha1.Rollout, snap planner.Snapshot) (planner.Snapshot, error) {
	if !planner.NeedsTerminatingPods(snap) {
		return snap, nil
	}
	// A pod that finishes terminating changes no ReplicaSet status on such a server: only a
	// pod event tells.
	if !r.countsTerminatingPods.Swap(true) {
		ctrl.LoggerFrom(ctx).V(1).Info("ReplicaSets do not report terminating pods (Kubernetes before 1.35): counting them from the pods")
	}
	pods := &metav1.PartialObjectMetadataList{}
	pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	if err := r.listWatchedPods(ctx, ro.Namespace, ro.Spec.Selector, pods); err != nil {
		return snap, fmt.Errorf("listing pods to count terminating ones (the ReplicaSets do not report them): %w", err)
	}
	ctrl.LoggerFrom(ctx).V(4).Info("Counted terminating pods from the pods: the ReplicaSets do not report them", "pods", len(pods.Items))
	return planner.WithTerminatingPods(snap, pods.Items), nil
}

// newRevisionPods are, for a Rollout with abortOn whose new revision is rolling out, that
// revision's pods, read past the cache (which holds only their metadata).
func (r *Reconciler) newRevisionPods(ctx context.Context, ro *stepwisev1alpha1.Rollout, snap planner.Snapshot) ([]corev1.Pod, error) {
	if ro.Spec.AbortOn == nil || snap.New == nil || len(snap.Old) == 0 || ro.Status.Canary.GetAborted() ||
		status.Complete(&ro.Status, ptr.Deref(ro.Spec.Replicas, 1), ro.Generation) {
		return nil, nil
	}
	pods := &corev1.PodList{}
	if err := r.listWatchedPods(ctx, ro.Namespace, snap.New.Spec.Selector, pods); err != nil {
		return nil, fmt.Errorf("listing the new revision's pods for abortOn: %w", err)
	}
	return pods.Items, nil
}

// listWatchedPods starts the pod watch (pod events matter from now on), then lists the pods of
// namespace that selector selects, past the cache, which holds only their metadata.
func (r *Reconciler) listWatchedPods(ctx context.Context, namespace string, selector *metav1.LabelSelector, pods client.ObjectList) error {
	if err := r.watchPods(ctx); err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return fmt.Errorf("parsing selector: %w", err)
	}
	return r.APIReader.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel})
}

// watchPods starts the pod watch, once.
func (r *Reconciler) watchPods(ctx context.Context) error {
	if r.podWatch == nil { // a Reconciler built without a manager
		return nil
	}
	if err := r.podWatch.ensure(ctx); err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	return nil
}
