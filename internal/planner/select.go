package planner

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
)

// SplitNewAndOld builds the Snapshot of a Rollout from the ReplicaSets it owns. The new
// ReplicaSet is found by template equality, never by the hash label alone: the oldest live one
// whose template equals the Rollout's. The others are old, oldest first.
func SplitNewAndOld(ro *stepwisev1alpha1.Rollout, owned []*appsv1.ReplicaSet) Snapshot {
	snap := Snapshot{Rollout: ro}
	byAge := slices.Clone(owned)
	slices.SortStableFunc(byAge, revision.CompareByAge)
	for _, rs := range byAge {
		if snap.New == nil && rs.DeletionTimestamp.IsZero() && revision.EqualIgnoreHash(&ro.Spec.Template, &rs.Spec.Template) {
			snap.New = rs
			continue
		}
		snap.Old = append(snap.Old, rs)
	}
	return snap
}

// Selects reports whether the Rollout's selector matches a label set; an invalid or empty
// selector matches nothing.
func Selects(ro *stepwisev1alpha1.Rollout, set map[string]string) bool {
	if ro.Spec.Selector == nil || (len(ro.Spec.Selector.MatchLabels) == 0 && len(ro.Spec.Selector.MatchExpressions) == 0) {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(ro.Spec.Selector)
	return err == nil && sel.Matches(labels.Set(set))
}
