package planner

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// rolling plans one step of a RollingUpdate: create the new ReplicaSet if needed, then move
// toward the number of pods the new revision may have now (every pod, unless a canary step,
// a partition or an abort holds some on older revisions): either the new ReplicaSet grows
// within replicas + maxSurge, or (when it cannot) old ReplicaSets shrink while at least
// replicas - maxUnavailable pods stay available. Once complete, prune history.
func (p *planning) rolling() {
	p.plan.RollsForward = true
	p.planProgress()
	p.syncNewReplicaSet(!p.plan.Canary.GetAborted())
	newRS := p.newRS
	switch {
	case newRS == nil:
		return // aborted before the new revision had a ReplicaSet: nothing to undo
	case *newRS.Spec.Replicas > p.params.Replicas:
		p.scale(newRS, p.params.Replicas, false, fmt.Sprintf("new ReplicaSet has %d replicas, more than the %d desired", *newRS.Spec.Replicas, p.params.Replicas))
		return
	case *newRS.Spec.Replicas > p.target || (*newRS.Spec.Replicas == p.target && sumSpec(p.oldRSs) < p.params.Replicas-p.target):
		p.rollBack() // the new revision has too many pods, or the old ones too few (a retry mid-abort)
		return
	case p.rollToward(newRS, p.target, p.oldRSs, p.params.Replicas-p.target):
		return
	}
	if p.completeBeforeThisSync() {
		p.cleanup()
	}
}

// stableRS is the revision that serves while a new one rolls out: the newest old ReplicaSet
// that has replicas, else the newest old one; nil for the first revision.
func (p *planning) stableRS() *appsv1.ReplicaSet {
	var stable *appsv1.ReplicaSet
	for _, rs := range slices.Backward(p.oldRSs) {
		if stable == nil || (*rs.Spec.Replicas > 0 && *stable.Spec.Replicas == 0) {
			stable = rs
		}
	}
	return stable
}

// rollBack moves pods from the new ReplicaSet back to the stable one (stableRS), under the
// same bounds as a rollout, until the old revisions hold every pod the target leaves them:
// after an abort, or when a partition grew.
func (p *planning) rollBack() {
	stable := p.stableRS()
	if stable == nil {
		return // the first revision: there is no older one to hand pods back to
	}
	others := sumSpec(p.oldRSs) - *stable.Spec.Replicas
	p.rollToward(stable, p.params.Replicas-p.target-others, []*appsv1.ReplicaSet{p.newRS}, p.target)
}

// rollToward makes one move of a rolling update: grow scales up toward growTo, or else the
// ReplicaSets of shrink scale down, never below floor pods between them, and grow then takes
// whatever room is left. It reports whether it scaled anything.
//
// The room a scale-down makes counts only once the ReplicaSet controller has begun removing
// the pods (podPlaces), since until then they still run; the steps apply in order, so growing
// adds no unavailable pod the availability bound has not already paid for.
func (p *planning) rollToward(grow *appsv1.ReplicaSet, growTo int32, shrink []*appsv1.ReplicaSet, floor int32) bool {
	if p.growToward(grow, growTo) {
		return true
	}
	if !p.shrinkToward(grow, shrink, floor) {
		return false
	}
	p.growToward(grow, growTo)
	return true
}

// growToward scales rs up toward growTo as far as replicas + maxSurge allows, counting every
// ReplicaSet's desired pods, and reports whether it did.
func (p *planning) growToward(rs *appsv1.ReplicaSet, growTo int32) bool {
	current := *rs.Spec.Replicas
	if current >= growTo {
		return false
	}
	to := current + p.roomToGrow(growTo-current)
	return p.scale(rs, to, false, fmt.Sprintf("%d pods in all < %d desired + %d maxSurge", p.podPlacesInAll(), p.params.Replicas, p.params.MaxSurge))
}

// roomToGrow is how many of `wanted` more pods replicas + maxSurge leaves room for now,
// counting the pods that may exist (podPlaces); a Recreate (its old pods are gone first) and a
// BlueGreen (two full-size revisions by design) have no surge to respect.
//
//	replicas 3, maxSurge 1, pods 3 old + 0 new → room for 1 (4 in all)
//	replicas 10, maxSurge 3, pods 10 old + 3 new → no room
//	replicas 3, maxSurge 1, old scaled 3 → 2 but its third pod not yet terminating → no room
func (p *planning) roomToGrow(wanted int32) int32 {
	if p.params.Strategy != stepwisev1alpha1.RollingUpdateRolloutStrategyType {
		return wanted // Recreate and BlueGreen have no surge to respect
	}
	return max(0, min(p.params.Replicas+p.params.MaxSurge-p.podPlacesInAll(), wanted))
}

// podPlacesInAll is podPlaces summed over every ReplicaSet.
func (p *planning) podPlacesInAll() int32 {
	var n int32
	for _, rs := range p.allRSs() {
		n += p.podPlaces(rs)
	}
	return n
}

// podPlaces is how many of rs's pods count against maxSurge: its desired pods, or the pods its
// ReplicaSet controller has not yet removed (status.replicas: not terminating), and with
// TerminationComplete those still terminating too; with ReplicaSetSizes, as for a Deployment,
// its desired pods only.
func (p *planning) podPlaces(rs *appsv1.ReplicaSet) int32 {
	existing := rs.Status.Replicas
	switch p.params.PodReplacement {
	case stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes:
		return *rs.Spec.Replicas
	case stepwisev1alpha1.PodReplacementPolicyTerminationComplete:
		existing += ptr.Deref(rs.Status.TerminatingReplicas, 0)
	}
	return max(*rs.Spec.Replicas, existing)
}

// stillCreating reports whether rs's ReplicaSet controller may still create pods toward its
// spec.replicas, under a podReplacementPolicy that counts the pods that exist in a
// RollingUpdate: it has not yet seen rs's latest spec, or status.replicas is below it without
// a refused create (ReplicaFailure FailedCreate: no pod comes of it). Such a ReplicaSet is not
// scaled down until it has caught up: once lowered, nothing it reports tells the pods of its
// creates still in flight from those it will keep, so they would not count (podPlaces) and
// another ReplicaSet could grow past replicas + maxSurge. A ReplicaSet being deleted creates
// nothing.
//
//	rollout mid-way, replicas 10 → 15: old 8 → 12, 8 pods so far; a wave lowers old to 9
//	  and counts 9 (status.replicas 8), while its 4 creates land: 12 old pods exist
func (p *planning) stillCreating(rs *appsv1.ReplicaSet) bool {
	if p.params.Strategy != stepwisev1alpha1.RollingUpdateRolloutStrategyType || p.params.PodReplacement == stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes ||
		rs.DeletionTimestamp != nil {
		return false
	}
	if rs.Status.ObservedGeneration < rs.Generation {
		return true
	}
	for _, c := range rs.Status.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue && c.Reason == "FailedCreate" {
			return false
		}
	}
	return rs.Status.Replicas < *rs.Spec.Replicas
}

// shrinkToward scales the ReplicaSets of shrink down and reports whether it did. It may remove
// at most allPods - minAvailable - (grow's pods not yet available), and never more than leaves
// floor pods in shrink: first unhealthy pods (ReplicaSets with desired > available, oldest
// first), then available ones, as long as the available pods stay at or above minAvailable.
//
//	replicas 3, maxUnavailable 1, old 3 (3 available) + new 1 (0 available):
//	  maxScaledDown = 4 - 2 - 1 = 1; available 3 > 2 → old scales to 2
//	replicas 10, maxUnavailable 2, canary step of 1 pod, old 10 + new 1 (0 available):
//	  maxScaledDown = 11 - 8 - 1 = 2, but the floor keeps 9 old pods → old scales to 9
func (p *planning) shrinkToward(grow *appsv1.ReplicaSet, shrink []*appsv1.ReplicaSet, floor int32) bool {
	removable := sumSpec(shrink) - floor
	if removable <= 0 {
		return false
	}
	minAvailable := p.params.Replicas - p.params.MaxUnavailable
	growUnavailable := *grow.Spec.Replicas - availableOf(grow)
	maxScaledDown := p.totalReplicas() - minAvailable - growUnavailable
	if maxScaledDown <= 0 {
		return false
	}
	cleaned := p.cleanupUnhealthyReplicas(shrink, min(maxScaledDown, removable))
	scaledDown := p.scaleDownAvailable(shrink, removable-cleaned)
	return cleaned+scaledDown > 0
}

// cleanupUnhealthyReplicas removes old pods that are not available, up to maxCleanup, oldest
// ReplicaSet first: they serve nobody, so removing them costs no availability.
func (p *planning) cleanupUnhealthyReplicas(rss []*appsv1.ReplicaSet, maxCleanup int32) int32 {
	var total int32
	for _, rs := range rss {
		if total >= maxCleanup {
			break
		}
		desired, available := *rs.Spec.Replicas, availableOf(rs)
		if desired == 0 || desired == available {
			continue
		}
		n := min(maxCleanup-total, desired-available)
		if p.scale(rs, desired-n, false, fmt.Sprintf("removing %d unavailable old pods (%d desired, %d available)", n, desired, available)) {
			total += n
		}
	}
	return total
}

// scaleDownAvailable removes available pods of rss, oldest ReplicaSet first, down to
// minAvailable available pods in all, and at most maxScaleDown.
func (p *planning) scaleDownAvailable(rss []*appsv1.ReplicaSet, maxScaleDown int32) int32 {
	minAvailable := p.params.Replicas - p.params.MaxUnavailable
	available := sumAvailable(p.allRSs())
	if available <= minAvailable {
		return 0
	}
	budget := min(available-minAvailable, maxScaleDown)
	var total int32
	for _, rs := range rss {
		if total >= budget {
			break
		}
		desired := *rs.Spec.Replicas
		if desired == 0 {
			continue
		}
		n := min(desired, budget-total)
		if p.scale(rs, desired-n, false, fmt.Sprintf("%d available > %d desired - %d maxUnavailable", available-total, p.params.Replicas, p.params.MaxUnavailable)) {
			total += n
		}
	}
	return total
}

func (p *planning) totalReplicas() int32 { return sumSpec(p.allRSs()) }

func sumSpec(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += *rs.Spec.Replicas
	}
	return n
}

func sumAvailable(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += availableOf(rs)
	}
	return n
}

// availableOf counts a ReplicaSet's available pods only up to its desired size: the ones
// beyond it are about to be removed (the ReplicaSet controller has not caught up yet), so they
// must not pay for another scale-down. Deployment counts them; this is stricter, never looser.
func availableOf(rs *appsv1.ReplicaSet) int32 {
	return min(rs.Status.AvailableReplicas, *rs.Spec.Replicas)
}
