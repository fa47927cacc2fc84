// Package rollout holds the Rollout reconciler: it reads the cluster, asks the pure planner
// what to do, applies the plan and patches status once.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/controller/freshness"
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

	// fresh decides when a reconcile waits for a fresher cache or skips a write.
	fresh freshness.Tracker
	// podWatch starts the pod watch that wakes Rollouts with progress gates or abortOn, when
	// the first one is reconciled, or those counting terminating pods on a server whose
	// ReplicaSets do not report them: without such Rollouts the controller watches no pods
	// (set by SetupWithManager).
	podWatch *lazyWatch
	// countsTerminatingPods is set once the server was found not to report terminating pods:
	// pod events then also wake Recreate and TerminationComplete Rollouts.
	countsTerminatingPods atomic.Bool
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

// Reconcile brings a Rollout's ReplicaSets one step closer to its spec and records its status:
// read, plan, apply, patch status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	ro := &stepwisev1alpha1.Rollout{}
	if err := r.Get(ctx, req.NamespacedName, ro); err != nil {
		if apierrors.IsNotFound(err) {
			r.fresh.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ro.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references garbage-collect the ReplicaSets
	}
	before, outcome := ro.DeepCopy(), reconcileOutcome{}
	defer func() { // the only place status is written, and where waits end the reconcile
		retErr = freshness.Settle(ctx, retErr, r.patchStatus(ctx, before, ro, outcome))
	}()
	now := r.Clock.Now()

	// Validate before reading ReplicaSets: with an invalid selector the snapshot would release
	// every ReplicaSet the Rollout owns.
	if _, err := planner.Resolve(ro); err != nil {
		return ctrl.Result{}, r.markInvalid(ro, err)
	}
	if err := r.fresh.CheckRollout(ctx, r.APIReader, ro); err != nil {
		return ctrl.Result{}, err
	}
	if rs, err := r.heldByDeployment(ctx, ro); err != nil || rs != "" {
		if rs != "" {
			r.holdForDeployment(ctx, ro, rs)
		}
		return ctrl.Result{}, err // the Deployment's ReplicaSets, orphaned or deleted, wake this Rollout
	}
	snap, err := r.snapshot(ctx, ro, now)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("building snapshot: %w", err)
	}
	if request, ok := rollbackRequest(ro); ok {
		return ctrl.Result{}, r.rollback(ctx, ro, snap, request) // the spec change brings us back
	}
	if snap, err = r.gateAvailability(ctx, ro, snap); err != nil {
		return ctrl.Result{}, err
	}
	if snap, err = r.terminatingPods(ctx, ro, snap); err != nil {
		return ctrl.Result{}, err
	}
	if snap.NewRevisionPods, err = r.newRevisionPods(ctx, ro, snap); err != nil {
		return ctrl.Result{}, err
	}
	plan, err := planner.For(snap)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("planning: %w", err)
	}
	ctrl.LoggerFrom(ctx).V(4).Info("Planned", "rollsForward", plan.RollsForward, "create", plan.CreateNew != nil, "scale", plan.Scale, "delete", len(plan.Delete))
	created, err := r.apply(ctx, ro, snap, &plan)
	if err != nil {
		return ctrl.Result{}, err
	}
	outcome.countsPending = len(plan.Scale) > 0 || status.ReplicaSetCountsPending(snap.All())
	ro.Status = status.Compute(plan.StatusInput(ro, created, now))
	if ro.Status.Canary.GetAborted() && !before.Status.Canary.GetAborted() {
		reason := stepwisev1alpha1.ReasonRolloutAborted
		if plan.AbortEvent != "" {
			reason = plan.AbortEvent
		}
		r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, reason, "Aborting", "Aborted: %s", ro.Status.Canary.AbortReason)
	}
	if status.PauseOnDeadline(ro, &ro.Status) {
		if err := r.pauseOnDeadline(ctx, ro); err != nil {
			return ctrl.Result{}, err
		}
	}
	outcome.synced = true
	return ctrl.Result{RequeueAfter: planner.Earliest(plan.RequeueAfter, status.RequeueAfter(ro, &ro.Status, plan.AllRSs, plan.Params.Replicas, now))}, nil
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

// holdForDeployment records that the Deployment of the Rollout's name still controls
// ReplicaSet rs, which the Rollout selects: nothing changes until the Deployment is deleted
// with orphan propagation.
func (r *Reconciler) holdForDeployment(ctx context.Context, ro *stepwisev1alpha1.Rollout, rs string) {
	message := fmt.Sprintf("Deployment %s controls ReplicaSet %s, which this Rollout selects: waiting for the Deployment to be deleted "+
		"with orphan propagation (kubectl delete deployment %s --cascade=orphan), then adopting its ReplicaSets", ro.Name, rs, ro.Name)
	if status.MarkHeldByDeployment(ro, message, r.Clock.Now()) {
		ctrl.LoggerFrom(ctx).V(1).Info("Waiting for a Deployment to let go of its ReplicaSets", "Deployment", klog.KObj(ro), "ReplicaSet", klog.KRef(ro.Namespace, rs))
		r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, stepwisev1alpha1.ReasonDeploymentOwnsReplicaSets, "Waiting", "%s", message)
	}
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
