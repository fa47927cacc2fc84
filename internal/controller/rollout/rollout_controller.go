// Package rollout holds the Rollout reconciler: it reads the cluster, asks the pure planner
// what to do, applies the plan and patches status once.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/planner"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// Reconciler reconciles Rollouts.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	client.Client
	// APIReader reads past the cache, for the few decisions a stale cache must not make.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Clock     clock.PassiveClock

	// replacedByStatusWrite holds, per Rollout, the resourceVersion its last status write
	// replaced. A reconcile that starts from a cached copy still at that version (an event
	// came before the write's own) would only conflict with a status patch: it skips it, and
	// the write's watch event brings the Rollout back. A hint: empty after a restart, when
	// such a patch conflicts instead. At 500 QPS a fifth to a third of the status patches
	// conflicted this way.
	replacedByStatusWrite sync.Map // client.ObjectKey → string
	// scaledGeneration holds, per ReplicaSet UID, the generation its last scale by the
	// controller made. A cached ReplicaSet below it is behind that write, and a plan from it
	// would be refused (see scale): the reconcile waits for the write's watch event instead.
	// A hint too: after a restart such a plan is refused and retried.
	scaledGeneration sync.Map // types.UID → int64
	// gatedPodWatch starts the pod watch that wakes Rollouts with progress gates, when the
	// first one is reconciled: without such Rollouts the controller watches no pods (set by
	// SetupWithManager).
	gatedPodWatch *lazyWatch
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

// NewReconciler returns a Reconciler wired to the manager.
func NewReconciler(mgr ctrl.Manager) *Reconciler {
	clk := clock.RealClock{}
	return &Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  newThrottledRecorder(mgr.GetEventRecorder("stepwise-controller"), clk),
		Clock:     clk,
	}
}

// +kubebuilder:rbac:groups=stepwise.dev,resources=rollouts,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=stepwise.dev,resources=rollouts/status,verbs=patch
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch

// Reconcile brings a Rollout's ReplicaSets one step closer to its spec and records its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	ro := &stepwisev1alpha1.Rollout{}
	if err := r.Get(ctx, req.NamespacedName, ro); err != nil {
		if apierrors.IsNotFound(err) {
			r.replacedByStatusWrite.Delete(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ro.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references garbage-collect the ReplicaSets
	}
	before := ro.DeepCopy()
	synced, countsFollow := false, false
	defer func() { // the only place status is written
		if err := r.patchStatus(ctx, before, ro, synced, countsFollow); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	now := r.Clock.Now()

	// Validate before reading ReplicaSets: with an invalid selector the snapshot would release
	// every ReplicaSet the Rollout owns.
	if _, err := planner.Resolve(ro); err != nil {
		return ctrl.Result{}, r.markInvalid(ro, err)
	}
	if behind, err := r.cacheBehind(ctx, ro); err != nil || behind {
		return ctrl.Result{}, client.IgnoreNotFound(err) // a newer version's watch event brings us back
	}
	snap, err := r.snapshot(ctx, ro)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("building snapshot: %w", err)
	}
	if r.behindOwnScales(snap.All()) {
		ctrl.LoggerFrom(ctx).V(4).Info("A cached ReplicaSet is behind the controller's own scale; waiting for it")
		return ctrl.Result{}, nil
	}
	snap.Now = now
	if request, ok := rollbackRequest(ro); ok {
		return ctrl.Result{}, r.rollback(ctx, ro, snap, request) // the spec change brings us back
	}
	if snap, err = r.gateAvailability(ctx, ro, snap); err != nil {
		return ctrl.Result{}, err
	}
	plan, err := planner.For(snap)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("planning: %w", err)
	}
	ctrl.LoggerFrom(ctx).V(4).Info("Planned", "kind", plan.Kind, "create", plan.CreateNew != nil, "scale", plan.Scale, "delete", len(plan.Delete))
	created, err := r.apply(ctx, ro, snap, &plan)
	if errors.Is(err, errNotYetCached) || errors.Is(err, errNamespaceTerminating) {
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	countsFollow = len(plan.Scale) > 0 || status.CountsMoveNext(snap.All())
	ro.Status = status.Compute(plan.StatusInput(ro, created, now))
	if ro.Status.Canary.GetAborted() && !before.Status.Canary.GetAborted() {
		r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, stepwisev1alpha1.ReasonRolloutAborted, "Aborting", "Aborted: %s", ro.Status.Canary.AbortReason)
	}
	if status.PauseOnDeadline(ro, &ro.Status) {
		if err := r.pauseOnDeadline(ctx, ro); err != nil {
			return ctrl.Result{}, err
		}
	}
	synced = true
	return ctrl.Result{RequeueAfter: planner.Earliest(plan.RequeueAfter, status.RequeueAfter(ro, &ro.Status, plan.AllRSs, plan.Params.Replicas, now))}, nil
}

// behindOwnScales reports whether a cached ReplicaSet is older than the controller's own last
// scale of it, and forgets the scales the cache has caught up with.
func (r *Reconciler) behindOwnScales(rss []*appsv1.ReplicaSet) bool {
	behind := false
	for _, rs := range rss {
		if scaled, ok := r.scaledGeneration.Load(rs.UID); ok {
			if rs.Generation < scaled.(int64) {
				behind = true
			} else {
				r.scaledGeneration.Delete(rs.UID)
			}
		}
	}
	return behind
}

// cacheBehind reports whether the cache holds an older version of a Rollout whose plan
// depends on state recorded in its status (canary steps, an abort, a blue-green window). A plan
// from such a stale copy would move ReplicaSets the wrong way (scale down the revision a
// blue-green undo just switched back from, grow an aborted canary) before its status patch
// failed on the conflict. Other Rollouts plan from their ReplicaSets alone and skip the read.
func (r *Reconciler) cacheBehind(ctx context.Context, ro *stepwisev1alpha1.Rollout) (bool, error) {
	recorded := ro.Status.Canary != nil || ro.Status.BlueGreen != nil ||
		ro.Spec.Strategy.Type == stepwisev1alpha1.BlueGreenRolloutStrategyType || len(ro.Spec.Strategy.RollingUpdate.GetSteps()) > 0
	if !recorded {
		return false, nil
	}
	fresh := &metav1.PartialObjectMetadata{}
	fresh.SetGroupVersionKind(stepwisev1alpha1.GroupVersion.WithKind("Rollout"))
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(ro), fresh); err != nil {
		return false, fmt.Errorf("re-reading Rollout: %w", err)
	}
	return fresh.ResourceVersion != ro.ResourceVersion, nil
}

// pauseOnDeadline sets spec.paused, as `kubectl stepwise pause` does, for a rollout that
// exceeded its progress deadline with progressDeadlineAction Pause; resume goes on.
func (r *Reconciler) pauseOnDeadline(ctx context.Context, ro *stepwisev1alpha1.Rollout) error {
	ctrl.LoggerFrom(ctx).V(2).Info("Pausing Rollout: progress deadline exceeded")
	updated := ro.DeepCopy()
	updated.Spec.Paused = true
	if err := r.Update(ctx, updated); err != nil {
		return fmt.Errorf("pausing Rollout after its progress deadline: %w", err)
	}
	ro.ResourceVersion, ro.Spec.Paused = updated.ResourceVersion, true // the status patch follows this write
	r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, stepwisev1alpha1.ReasonProgressDeadlineExceeded, "Pausing",
		"Paused: no progress for %ds (progressDeadlineAction: Pause)", *ro.Spec.ProgressDeadlineSeconds)
	return nil
}

// markInvalid records a spec the controller cannot act on; retrying will not help until the
// spec changes (which starts a new reconcile).
func (r *Reconciler) markInvalid(ro *stepwisev1alpha1.Rollout, err error) error {
	var invalid *planner.InvalidSpecError
	if !errors.As(err, &invalid) {
		return err
	}
	status.MarkInvalidSpec(ro, err, r.Clock.Now())
	r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, stepwisev1alpha1.ReasonInvalidSpec, "Validating", "%s", err.Error())
	return reconcile.TerminalError(err)
}

// patchStatus writes the status once, through the status subresource, only when it changed.
// observedGeneration moves only when the reconcile synced. When countsFollow (the reconcile
// scaled, or status.CountsMoveNext), a change of counts alone waits: the ReplicaSet's coming
// status write starts a reconcile that counts again, so the counts are written once the
// ReplicaSets report on their latest sizes (a Rollout status write costs the API server about
// 5 ms of CPU, a Deployment's 3 ms). The patch is conditional on the resourceVersion the
// status was computed from: a merge patch replaces the conditions list whole, so a status
// built on a stale cached copy must conflict (and be recomputed), not erase what a newer
// write added.
func (r *Reconciler) patchStatus(ctx context.Context, before, ro *stepwisev1alpha1.Rollout, synced, countsFollow bool) error {
	if !synced {
		ro.Status.ObservedGeneration = before.Status.ObservedGeneration
	}
	if equality.Semantic.DeepEqual(before.Status, ro.Status) {
		return nil
	}
	if countsFollow && status.CountsOnly(&before.Status, &ro.Status) {
		ctrl.LoggerFrom(ctx).V(4).Info("Only counts moved, and a ReplicaSet's status write that moves them again is on its way")
		return nil
	}
	key := client.ObjectKeyFromObject(ro)
	if replaced, ok := r.replacedByStatusWrite.Load(key); ok {
		if replaced == before.ResourceVersion {
			ctrl.LoggerFrom(ctx).V(4).Info("Status computed from the Rollout our last status write replaced; waiting for the newer one")
			return nil
		}
		r.replacedByStatusWrite.Delete(key) // the cache has moved on
	}
	base := ro.ResourceVersion
	// The patch is computed from the statuses alone: marshalling two whole Rollouts (their
	// templates above all) for it was a fifth of the controller's CPU. It carries the
	// resourceVersion, which moved on if this reconcile wrote the spec.
	statusOf := func(of *stepwisev1alpha1.Rollout) *stepwisev1alpha1.Rollout {
		return &stepwisev1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{ResourceVersion: ro.ResourceVersion}, Status: of.Status}
	}
	patch, err := client.MergeFromWithOptions(statusOf(before), client.MergeFromWithOptimisticLock{}).Data(statusOf(ro))
	if err != nil {
		return fmt.Errorf("computing the status patch: %w", err)
	}
	err = r.Status().Patch(ctx, ro, client.RawPatch(types.MergePatchType, patch))
	if err == nil {
		r.replacedByStatusWrite.Store(key, base)
		return nil
	}
	if apierrors.IsConflict(err) {
		// The API server holds a newer Rollout than the cache did: its watch event brings
		// us back to compute the status from it. A retry now would read the same stale copy.
		ctrl.LoggerFrom(ctx).V(4).Info("Status computed from a stale Rollout; waiting for the newer one")
		return nil
	}
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	return nil
}

// SetupWithManager registers the reconciler with workers reconciling at once, and its
// watches: Rollouts, and ReplicaSets, which wake the Rollout that controls them or, for an
// orphan, every Rollout that could adopt it. The manager's cache should use CacheOptions.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(context.Background(), &appsv1.ReplicaSet{}, controllerIndex, indexByController); err != nil {
		return fmt.Errorf("indexing ReplicaSets by controller: %w", err)
	}
	if err := indexer.IndexField(context.Background(), &stepwisev1alpha1.Rollout{}, progressGatesIndex, indexByProgressGates); err != nil {
		return fmt.Errorf("indexing Rollouts by progress gates: %w", err)
	}
	c, err := ctrl.NewControllerManagedBy(mgr).
		For(&stepwisev1alpha1.Rollout{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Watches(&appsv1.ReplicaSet{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsForReplicaSet),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Build(r)
	if err != nil {
		return err
	}
	// Pods are watched as metadata only (CacheOptions), and only once a Rollout has progress
	// gates: every pod write of the cluster (about ten per replaced pod, from the scheduler,
	// the kubelet and the ReplicaSet controller) is an event to decode, which took 35–45% of
	// the controller's CPU in a 1000-pod rollout without gates.
	pods := &metav1.PartialObjectMetadata{}
	pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	r.gatedPodWatch = &lazyWatch{start: func(ctx context.Context) error {
		ctrl.LoggerFrom(ctx).V(1).Info("Watching pods, for the first Rollout with progress gates")
		return c.Watch(source.Kind(mgr.GetCache(), client.Object(pods), handler.EnqueueRequestsFromMapFunc(r.gatedRolloutForPod),
			predicate.ResourceVersionChangedPredicate{}))
	}}
	return nil
}

// gatedRolloutForPod maps a pod to the Rollout whose ReplicaSet controls it, only when that
// Rollout has progress gates: someone setting a gate condition is the only pod change the
// ReplicaSet's own status does not report. Most namespaces have no gated Rollout, and one
// index lookup settles those without copying anything out of the cache.
func (r *Reconciler) gatedRolloutForPod(ctx context.Context, pod client.Object) []reconcile.Request {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return nil
	}
	gated := &stepwisev1alpha1.RolloutList{}
	if err := r.List(ctx, gated, client.InNamespace(pod.GetNamespace()), client.MatchingFields{progressGatesIndex: "true"}); err != nil || len(gated.Items) == 0 {
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

// gateAvailability counts, for a Rollout with progress gates, only the pods whose gates are
// all True as available (planner.WithProgressGates). The pods are read past the cache, which
// holds only their metadata (CacheOptions).
func (r *Reconciler) gateAvailability(ctx context.Context, ro *stepwisev1alpha1.Rollout, snap planner.Snapshot) (planner.Snapshot, error) {
	if len(ro.Spec.ProgressGates) == 0 {
		return snap, nil
	}
	if r.gatedPodWatch != nil { // nil in a Reconciler built without a manager
		if err := r.gatedPodWatch.ensure(ctx); err != nil {
			return snap, fmt.Errorf("watching pods for progress gates: %w", err)
		}
	}
	selector, err := metav1.LabelSelectorAsSelector(ro.Spec.Selector)
	if err != nil {
		return snap, fmt.Errorf("parsing selector: %w", err)
	}
	pods := &corev1.PodList{}
	if err := r.APIReader.List(ctx, pods, client.InNamespace(ro.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return snap, fmt.Errorf("listing pods for progress gates: %w", err)
	}
	return planner.WithProgressGates(snap, pods.Items), nil
}

// rolloutsForReplicaSet maps a ReplicaSet to the Rollouts that must look at it.
func (r *Reconciler) rolloutsForReplicaSet(ctx context.Context, obj client.Object) []reconcile.Request {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		if !isRollout(ref) {
			return nil
		}
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: ref.Name}}}
	}
	rollouts := &stepwisev1alpha1.RolloutList{}
	if err := r.List(ctx, rollouts, client.InNamespace(obj.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing Rollouts for an orphaned ReplicaSet", "ReplicaSet", client.ObjectKeyFromObject(obj))
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
