package revision

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// maxHistoryChars bounds the revision-history annotation, as Deployment bounds its own.
const maxHistoryChars = 2000

// Of is the revision number of a ReplicaSet; 0 when it has none (or a malformed one).
func Of(rs *appsv1.ReplicaSet) int64 {
	n, err := strconv.ParseInt(rs.Annotations[stepwisev1alpha1.RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// Max is the highest revision number among rss, compared as integers.
func Max(rss []*appsv1.ReplicaSet) int64 {
	var highest int64
	for _, rs := range rss {
		highest = max(highest, Of(rs))
	}
	return highest
}

// SortByRevision sorts ReplicaSets by revision, oldest first; ties (and ReplicaSets without a
// revision) by creation time, then name.
func SortByRevision(rss []*appsv1.ReplicaSet) {
	slices.SortStableFunc(rss, func(a, b *appsv1.ReplicaSet) int {
		return cmp.Or(cmp.Compare(Of(a), Of(b)), CompareByAge(a, b))
	})
}

// CompareByAge orders ReplicaSets oldest first, by creation time then name.
func CompareByAge(a, b *appsv1.ReplicaSet) int {
	return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
}

// skippedAnnotations are the Rollout annotations never copied to a ReplicaSet: they describe the
// Rollout object itself, or are the ReplicaSet's own bookkeeping.
var skippedAnnotations = map[string]bool{
	corev1.LastAppliedConfigAnnotation:         true,
	stepwisev1alpha1.RevisionAnnotation:        true,
	stepwisev1alpha1.RevisionHistoryAnnotation: true,
	stepwisev1alpha1.DesiredReplicasAnnotation: true,
	stepwisev1alpha1.MaxReplicasAnnotation:     true,
	stepwisev1alpha1.RollbackRequestAnnotation: true,
	stepwisev1alpha1.MigratedFromAnnotation:    true,
}

// IsCopiedAnnotation reports whether a Rollout annotation is copied to its ReplicaSets (and
// restored from a ReplicaSet by an undo).
func IsCopiedAnnotation(key string) bool { return !skippedAnnotations[key] }

// SetNewReplicaSetAnnotations gives the ReplicaSet of the current template the Rollout's
// annotations (kubernetes.io/change-cause among them) and the revision number newRevision.
// A ReplicaSet brought back from an older revision keeps its old numbers in the
// revision-history annotation. It reports whether anything changed.
func SetNewReplicaSetAnnotations(rolloutAnnotations map[string]string, rs *appsv1.ReplicaSet, newRevision int64) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range rolloutAnnotations {
		if IsCopiedAnnotation(k) && rs.Annotations[k] != v {
			rs.Annotations[k] = v
			changed = true
		}
	}
	oldRevision, hadRevision := rs.Annotations[stepwisev1alpha1.RevisionAnnotation]
	if Of(rs) >= newRevision {
		return changed
	}
	rs.Annotations[stepwisev1alpha1.RevisionAnnotation] = strconv.FormatInt(newRevision, 10)
	if hadRevision && oldRevision != "" {
		rs.Annotations[stepwisev1alpha1.RevisionHistoryAnnotation] = appendHistory(rs.Annotations[stepwisev1alpha1.RevisionHistoryAnnotation], oldRevision)
	}
	return true
}

// appendHistory adds revision to a comma-separated history, dropping the oldest entries to
// stay within maxHistoryChars.
func appendHistory(history, revision string) string {
	entries := []string{}
	if history != "" {
		entries = strings.Split(history, ",")
	}
	entries = append(entries, revision)
	for len(entries) > 1 && len(strings.Join(entries, ",")) > maxHistoryChars {
		entries = entries[1:]
	}
	return strings.Join(entries, ",")
}

// ToPrune returns the old ReplicaSets that revisionHistoryLimit lets go, oldest revision
// first: only those beyond the limit that are fully scaled down (no desired and no running
// pods, status caught up with spec) and not already being deleted.
func ToPrune(oldRSs []*appsv1.ReplicaSet, limit int32) []*appsv1.ReplicaSet {
	alive := slices.DeleteFunc(slices.Clone(oldRSs), func(rs *appsv1.ReplicaSet) bool { return rs.DeletionTimestamp != nil })
	excess := len(alive) - int(limit)
	if excess <= 0 {
		return nil
	}
	SortByRevision(alive)
	var prune []*appsv1.ReplicaSet
	for _, rs := range alive[:excess] {
		if *rs.Spec.Replicas == 0 && rs.Status.Replicas == 0 && rs.Status.ObservedGeneration >= rs.Generation {
			prune = append(prune, rs)
		}
	}
	return prune
}
