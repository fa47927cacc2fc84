package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/controller/freshness"
	"github.com/stepwise-dev/stepwise/internal/planner"
	"github.com/stepwise-dev/stepwise/internal/revision"
)

// apply carries out a plan in order: create or update the new ReplicaSet, scale, prune. It
// reports whether it created the new ReplicaSet. Writes to ReplicaSets hold only for the
// version the plan read (scales: its spec's generation), so a write planned from a stale
// cache fails and the reconcile is retried.
func (r *Reconciler) apply(ctx context.Context, ro *stepwisev1alpha1.Rollout, snap planner.Snapshot, plan *planner.Plan) (created bool, err error) {
	log := ctrl.LoggerFrom(ctx)
	// live holds each ReplicaSet as last read or written (the planner changed only its own
	// copies): the base of the next patch.
	live := map[string]*appsv1.ReplicaSet{}
	for _, rs := range snap.All() {
		live[rs.Name] = rs
	}
	if rs := plan.CreateNew.DeepCopy(); rs != nil {
		if err := r.createNewReplicaSet(ctx, ro, rs); err != nil {
			return false, err
		}
		live[rs.Name] = rs
		created = true
	}
	if rs := plan.UpdateNew.DeepCopy(); rs != nil {
		log.V(2).Info("Updating ReplicaSet annotations", "ReplicaSet", klog.KObj(rs), "revision", rs.Annotations[stepwisev1alpha1.RevisionAnnotation])
		rs.Spec.Replicas = live[rs.Name].Spec.Replicas // sizes change only through scale steps
		if err := r.Update(ctx, rs); err != nil {
			return created, fmt.Errorf("updating ReplicaSet %s: %w", klog.KObj(rs), err)
		}
		live[rs.Name] = rs
	}
	for _, step := range plan.Scale {
		scaled, err := r.scale(ctx, ro, live[step.ReplicaSet], step)
		if err != nil {
			return created, err
		}
		live[step.ReplicaSet] = scaled
	}
	for _, sw := range plan.Services {
		if err := r.switchService(ctx, ro, sw); err != nil {
			return created, err
		}
	}
	if err := r.applyAnalysis(ctx, ro, plan); err != nil {
		return created, err
	}
	for _, rs := range plan.Delete {
		log.V(2).Info("Deleting old ReplicaSet beyond revisionHistoryLimit", "ReplicaSet", klog.KObj(rs), "revision", revision.Of(rs))
		err := r.Delete(ctx, rs, client.Preconditions{UID: &rs.UID, ResourceVersion: &rs.ResourceVersion})
		if client.IgnoreNotFound(err) != nil {
			return created, fmt.Errorf("deleting ReplicaSet %s: %w", klog.KObj(rs), err)
		}
	}
	return created, nil
}

// scale patches a ReplicaSet's replicas and size annotations, and records an event when the
// size changes.
//
// The patch holds only if the ReplicaSet's spec is still the one the plan read (a JSON patch
// test of metadata.generation): sizes are absolute, so one computed from a stale spec would
// undo a newer write. Unlike a resourceVersion precondition it lets the ReplicaSet
// controller's status writes pass, which would otherwise make many scale patches conflict.
func (r *Reconciler) scale(ctx context.Context, ro *stepwisev1alpha1.Rollout, base *appsv1.ReplicaSet, step planner.ScaleStep) (*appsv1.ReplicaSet, error) {
	ctrl.LoggerFrom(ctx).V(2).Info("Scaling ReplicaSet", "ReplicaSet", klog.KObj(base), "from", step.From, "to", step.To, "reason", step.Reason)
	patch, err := json.Marshal(scalePatch(base, step))
	if err != nil {
		return nil, fmt.Errorf("encoding the scale patch of ReplicaSet %s: %w", klog.KObj(base), err)
	}
	scaled := base.DeepCopy()
	err = r.Patch(ctx, scaled, client.RawPatch(types.JSONPatchType, patch))
	if apierrors.IsInvalid(err) { // how a failed test comes back: a 422 without its cause
		return nil, fmt.Errorf("scaling ReplicaSet %s to %d: refused, most likely because its spec changed after generation %d: %w", klog.KObj(base), step.To, base.Generation, err)
	}
	if err != nil {
		return nil, fmt.Errorf("scaling ReplicaSet %s to %d: %w", klog.KObj(base), step.To, err)
	}
	r.fresh.Scaled(scaled)
	if step.From != step.To {
		r.Recorder.Eventf(ro, scaled, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaling",
			"Scaled %s replica set %s to %d", step.Direction(), scaled.Name, step.To)
	}
	return scaled, nil
}

// jsonPatchOp is one operation of a JSON patch (RFC 6902).
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// scalePatch is the JSON patch of a scale step. It is written out rather than diffed from two
// marshalled ReplicaSets: it is the controller's most frequent write, and the fields are known.
func scalePatch(base *appsv1.ReplicaSet, step planner.ScaleStep) []jsonPatchOp {
	sizes := map[string]string{
		stepwisev1alpha1.DesiredReplicasAnnotation: fmt.Sprint(step.DesiredReplicas),
		stepwisev1alpha1.MaxReplicasAnnotation:     fmt.Sprint(step.MaxReplicas),
	}
	ops := []jsonPatchOp{
		{Op: "test", Path: "/metadata/generation", Value: base.Generation},
		{Op: "add", Path: "/spec/replicas", Value: step.To},
	}
	if base.Annotations == nil {
		return append(ops, jsonPatchOp{Op: "add", Path: "/metadata/annotations", Value: sizes})
	}
	for _, key := range []string{stepwisev1alpha1.DesiredReplicasAnnotation, stepwisev1alpha1.MaxReplicasAnnotation} {
		ops = append(ops, jsonPatchOp{Op: "add", Path: "/metadata/annotations/" + jsonPointerEscaper.Replace(key), Value: sizes[key]})
	}
	return ops
}

// jsonPointerEscaper escapes a map key for a JSON pointer (RFC 6901): "~" and "/".
var jsonPointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// switchService points a Service's selector at a revision's pod-template-hash and records an
// event. The merge patch sets that one selector key and leaves the others as they are, so it
// needs no read of the Service first.
func (r *Reconciler) switchService(ctx context.Context, ro *stepwisev1alpha1.Rollout, sw planner.ServiceSwitch) error {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: sw.Service}}
	ctrl.LoggerFrom(ctx).V(2).Info("Switching Service", "Service", klog.KObj(svc), "from", sw.From, "to", sw.To)
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"selector": map[string]string{stepwisev1alpha1.PodTemplateHashLabel: sw.To}}})
	if err != nil {
		return fmt.Errorf("encoding the selector patch of Service %s: %w", klog.KObj(svc), err)
	}
	if err := r.Patch(ctx, svc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("switching Service %s to %s: %w", klog.KObj(svc), sw.To, err)
	}
	r.Recorder.Eventf(ro, svc, corev1.EventTypeNormal, "SwitchedService", "Switching",
		"Switched service %s to pod-template-hash %s", sw.Service, sw.To)
	return nil
}

// createNewReplicaSet creates the ReplicaSet of the current template. Its name derives from the
// template hash, so a second attempt after a stale read finds the first instead of making a
// twin: an existing ReplicaSet that is ours with this template means the cache is behind; one
// with another template is a hash collision, resolved by bumping status.collisionCount (a new
// name next time).
func (r *Reconciler) createNewReplicaSet(ctx context.Context, ro *stepwisev1alpha1.Rollout, rs *appsv1.ReplicaSet) error {
	log := ctrl.LoggerFrom(ctx)
	log.V(2).Info("Creating ReplicaSet", "ReplicaSet", klog.KObj(rs), "replicas", *rs.Spec.Replicas, "revision", rs.Annotations[stepwisev1alpha1.RevisionAnnotation])
	err := r.Create(ctx, rs)
	switch {
	case err == nil:
		if *rs.Spec.Replicas > 0 {
			r.Recorder.Eventf(ro, rs, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaling", "Scaled up replica set %s to %d", rs.Name, *rs.Spec.Replicas)
		}
		return nil
	case apierrors.IsAlreadyExists(err):
		existing := &appsv1.ReplicaSet{}
		if getErr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(rs), existing); getErr != nil {
			return fmt.Errorf("reading existing ReplicaSet %s: %w", klog.KObj(rs), getErr)
		}
		if ref := metav1.GetControllerOf(existing); ref != nil && ref.UID == ro.UID && revision.EqualIgnoreHash(&ro.Spec.Template, &existing.Spec.Template) {
			return freshness.WaitFor(freshness.NewReplicaSetNotCached, err)
		}
		count := ptr.Deref(ro.Status.CollisionCount, 0) + 1
		log.V(2).Info("Hash collision: bumping collisionCount", "ReplicaSet", klog.KObj(rs), "collisionCount", count)
		ro.Status.CollisionCount = &count
		return fmt.Errorf("ReplicaSet %s exists with another template (hash collision): %w", klog.KObj(rs), err)
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return freshness.WaitFor(freshness.NamespaceTerminating, err)
	default:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		meta.SetStatusCondition(&ro.Status.Conditions, metav1.Condition{
			Type: stepwisev1alpha1.ConditionProgressing, Status: metav1.ConditionFalse,
			Reason: stepwisev1alpha1.ReasonReplicaSetCreateError, Message: msg, ObservedGeneration: ro.Generation,
		})
		r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, stepwisev1alpha1.ReasonReplicaSetCreateError, "Creating", "%s", msg)
		return fmt.Errorf("creating ReplicaSet %s: %w", klog.KObj(rs), err)
	}
}
