package rollout

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/planner"
	"github.com/stepwise-dev/stepwise/internal/revision"
)

// rollback carries out a rollback request (the stepwise.dev/rollback-to annotation) once: it
// restores the requested revision's template and annotations the way `kubectl stepwise undo`
// does (the same pure revision.PlanRollback), clears the request in the same write, and
// records an event and the Rollback condition. A request that cannot be carried out is
// cleared too, with a condition saying why; the spec is left as it was.
func (r *Reconciler) rollback(ctx context.Context, ro *stepwisev1alpha1.Rollout, snap planner.Snapshot, request string) error {
	updated := ro.DeepCopy()
	delete(updated.Annotations, stepwisev1alpha1.RollbackRequestAnnotation)
	cond := metav1.Condition{Type: stepwisev1alpha1.ConditionRollback, ObservedGeneration: ro.Generation, LastTransitionTime: metav1.NewTime(r.Clock.Now())}
	eventType := corev1.EventTypeWarning

	toRevision, err := strconv.ParseInt(request, 10, 64)
	if request == "" {
		toRevision, err = 0, nil
	}
	var rb revision.Rollback
	if err == nil && toRevision < 0 {
		err = errors.New("must be a revision number, or 0 for the previous revision")
	}
	if err == nil {
		rb, err = revision.PlanRollback(ro, snap.All(), toRevision)
	}
	switch {
	case err != nil:
		cond.Status, cond.Reason = metav1.ConditionFalse, stepwisev1alpha1.ReasonRevisionNotFound
		cond.Message = fmt.Sprintf("Rollback to %q not done, nothing changed: %v", request, err)
	case rb.Unchanged:
		cond.Status, cond.Reason = metav1.ConditionFalse, stepwisev1alpha1.ReasonRollbackSkipped
		cond.Message = fmt.Sprintf("Skipped rollback: the current template already matches revision %d", rb.Revision)
	default:
		rb.Apply(updated)
		cond.Status, cond.Reason, eventType = metav1.ConditionTrue, stepwisev1alpha1.ReasonRolledBack, corev1.EventTypeNormal
		cond.Message = fmt.Sprintf("Rolled back to revision %d", rb.Revision)
	}
	ctrl.LoggerFrom(ctx).V(2).Info("Handling rollback request", "request", request, "result", cond.Reason)
	if err := r.Update(ctx, updated); err != nil {
		return fmt.Errorf("updating Rollout for rollback: %w", err)
	}
	ro.ResourceVersion = updated.ResourceVersion // the status patch follows this write
	meta.SetStatusCondition(&ro.Status.Conditions, cond)
	r.Recorder.Eventf(ro, nil, eventType, cond.Reason, "RollingBack", "%s", cond.Message)
	return nil
}

// rollbackRequest returns the pending rollback request, if any. A paused Rollout keeps it
// pending until resumed, as a Deployment does.
func rollbackRequest(ro *stepwisev1alpha1.Rollout) (string, bool) {
	request, ok := ro.Annotations[stepwisev1alpha1.RollbackRequestAnnotation]
	return request, ok && !ro.Spec.Paused
}
