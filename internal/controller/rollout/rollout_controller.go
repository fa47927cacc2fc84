// Package rollout holds the Rollout reconciler: it reads the cluster, asks the pure planner
// what to do, applies the plan and patches status once.
package rollout

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// Reconciler reconciles Rollouts.
type Reconciler struct {
	client.Client
}

// NewReconciler returns a Reconciler using the manager's cached client.
func NewReconciler(mgr ctrl.Manager) *Reconciler {
	return &Reconciler{Client: mgr.GetClient()}
}

// +kubebuilder:rbac:groups=stepwise.dev,resources=rollouts,verbs=get;list;watch
// +kubebuilder:rbac:groups=stepwise.dev,resources=rollouts/status,verbs=get;patch

// Reconcile observes a Rollout and publishes its selector for the scale subresource.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ro := &stepwisev1alpha1.Rollout{}
	if err := r.Get(ctx, req.NamespacedName, ro); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	selector, err := metav1.LabelSelectorAsSelector(ro.Spec.Selector)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("parsing spec.selector: %w", err)
	}
	before := ro.DeepCopy()
	ro.Status.Selector = selector.String()
	if ro.Status.Selector == before.Status.Selector {
		return ctrl.Result{}, nil
	}
	if err := r.Status().Patch(ctx, ro, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, fmt.Errorf("patching status: %w", err)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler and its watches.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&stepwisev1alpha1.Rollout{}).
		Owns(&appsv1.ReplicaSet{}).
		Complete(r)
}
