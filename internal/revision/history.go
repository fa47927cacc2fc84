package revision

import (
	"errors"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// Entry is one revision of a Rollout's history.
type Entry struct {
	Revision    int64       `json:"revision"`
	ChangeCause string      `json:"changeCause,omitempty"`
	Images      []string    `json:"images"`
	Created     metav1.Time `json:"created"`
	ReplicaSet  string      `json:"replicaSet"`
	// Template is the pod template of the revision, without the pod-template-hash label.
	Template corev1.PodTemplateSpec `json:"template"`
}

// History lists the revisions kept in a Rollout's ReplicaSets, oldest first.
func History(rss []*appsv1.ReplicaSet) []Entry {
	entries := []Entry{} // -o json prints [] for a Rollout without revisions, not null
	for _, rs := range rss {
		n := Of(rs)
		if n == 0 {
			continue
		}
		template := rs.Spec.Template.DeepCopy()
		delete(template.Labels, stepwisev1alpha1.PodTemplateHashLabel)
		var images []string
		for _, c := range template.Spec.Containers {
			images = append(images, c.Image)
		}
		entries = append(entries, Entry{
			Revision: n, ChangeCause: rs.Annotations[stepwisev1alpha1.ChangeCauseAnnotation],
			Images: images, Created: rs.CreationTimestamp, ReplicaSet: rs.Name, Template: *template,
		})
	}
	slices.SortFunc(entries, func(a, b Entry) int { return int(a.Revision - b.Revision) })
	return entries
}

// Errors of a rollback, worded as kubectl words them for a Deployment.
var (
	ErrRevisionNotFound = errors.New("unable to find specified revision in history")
	ErrNoHistory        = errors.New("no rollout history found")
	ErrPaused           = errors.New("you cannot roll back a paused Rollout; resume it first with 'kubectl stepwise resume' and try again")
)

// Rollback is what rolling a Rollout back to a revision changes.
type Rollback struct {
	// Revision is the revision rolled back to.
	Revision int64
	// Template and Annotations replace the Rollout's.
	Template    corev1.PodTemplateSpec
	Annotations map[string]string
	// Unchanged is set when the Rollout already runs that revision's template.
	Unchanged bool
}

// PlanRollback finds the revision toRevision (0: the one before the current) among the
// Rollout's ReplicaSets and computes the template and annotations that bring it back: the
// revision's template without its hash label, the ReplicaSet's copied annotations (change
// cause among them), and the Rollout's own bookkeeping annotations. The kubectl plugin and the
// controller (for the rollback request annotation) both use it, so they cannot disagree.
func PlanRollback(ro *stepwisev1alpha1.Rollout, rss []*appsv1.ReplicaSet, toRevision int64) (Rollback, error) {
	if ro.Spec.Paused {
		return Rollback{}, ErrPaused
	}
	target, err := find(rss, toRevision)
	if err != nil {
		return Rollback{}, err
	}
	rb := Rollback{Revision: Of(target), Template: *target.Spec.Template.DeepCopy(), Annotations: map[string]string{}}
	delete(rb.Template.Labels, stepwisev1alpha1.PodTemplateHashLabel)
	rb.Unchanged = EqualIgnoreHash(&ro.Spec.Template, &target.Spec.Template)
	for k, v := range ro.Annotations {
		if !IsCopiedAnnotation(k) && k != stepwisev1alpha1.RollbackRequestAnnotation {
			rb.Annotations[k] = v
		}
	}
	for k, v := range target.Annotations {
		if IsCopiedAnnotation(k) {
			rb.Annotations[k] = v
		}
	}
	return rb, nil
}

// Apply writes the rollback into the Rollout (and drops a pending rollback request).
func (rb Rollback) Apply(ro *stepwisev1alpha1.Rollout) {
	ro.Spec.Template = *rb.Template.DeepCopy()
	ro.Annotations = map[string]string{}
	for k, v := range rb.Annotations {
		ro.Annotations[k] = v
	}
}

// find returns the ReplicaSet of revision n, or for n == 0 the one of the highest revision
// below the latest.
func find(rss []*appsv1.ReplicaSet, n int64) (*appsv1.ReplicaSet, error) {
	var latest, previous *appsv1.ReplicaSet
	for _, rs := range rss {
		v := Of(rs)
		switch {
		case v == 0:
			continue
		case n > 0 && v == n:
			return rs, nil
		case latest == nil || v > Of(latest):
			previous, latest = latest, rs
		case previous == nil || v > Of(previous):
			previous = rs
		}
	}
	if n > 0 {
		return nil, fmt.Errorf("%w: revision %d", ErrRevisionNotFound, n)
	}
	if previous == nil {
		return nil, ErrNoHistory
	}
	return previous, nil
}
