package rollout

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/controller/freshness"
)

// reconcileOutcome is what a reconcile tells its status patch.
type reconcileOutcome struct {
	// synced: the reconcile acted on the whole spec, so observedGeneration may move.
	synced bool
	// countsPending: a ReplicaSet status write that moves the counts again is on its way
	// (freshness.CountsPending).
	countsPending bool
}

// patchStatus writes the status once, through the status subresource, only when it changed
// and freshness does not hold it back. The patch is conditional on the resourceVersion the
// status was computed from: a merge patch replaces the conditions list whole, so a status
// built on a stale cached copy must conflict (and be recomputed), not erase what a newer
// write added.
func (r *Reconciler) patchStatus(ctx context.Context, before, ro *stepwisev1alpha1.Rollout, outcome reconcileOutcome) error {
	if !outcome.synced {
		ro.Status.ObservedGeneration = before.Status.ObservedGeneration
	}
	if equality.Semantic.DeepEqual(before.Status, ro.Status) {
		return nil
	}
	if err := r.fresh.CheckStatusWrite(before, ro, outcome.countsPending); err != nil {
		return err
	}
	replaced := ro.ResourceVersion
	// The patch is computed from the statuses alone, not from two whole Rollouts (their
	// templates above all), which are costly to marshal. It carries the resourceVersion, which
	// moved on if this reconcile wrote the spec.
	statusOf := func(of *stepwisev1alpha1.Rollout) *stepwisev1alpha1.Rollout {
		return &stepwisev1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{ResourceVersion: ro.ResourceVersion}, Status: of.Status}
	}
	patch, err := client.MergeFromWithOptions(statusOf(before), client.MergeFromWithOptimisticLock{}).Data(statusOf(ro))
	if err != nil {
		return fmt.Errorf("computing the status patch: %w", err)
	}
	err = r.Status().Patch(ctx, ro, client.RawPatch(types.MergePatchType, patch))
	switch {
	case err == nil:
		r.fresh.StatusWritten(client.ObjectKeyFromObject(ro), replaced)
		return nil
	case apierrors.IsConflict(err):
		return freshness.WaitFor(freshness.StatusConflict, err)
	case apierrors.IsNotFound(err):
		return nil
	}
	return fmt.Errorf("patching status: %w", err)
}
