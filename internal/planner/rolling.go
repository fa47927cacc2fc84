package planner

import (
	appsv1 "k8s.io/api/apps/v1"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// rolling plans one step of a RollingUpdate: create the new ReplicaSet if needed, then either
// scale it up within replicas + maxSurge, or (when it cannot grow) scale old ReplicaSets down
// while at least replicas - maxUnavailable pods stay available; once complete, prune history.
func (p *planning) rolling() {
	p.plan.Kind = KindRollout
	p.syncNewReplicaSet(true)
	if p.reconcileNewReplicaSet() || p.reconcileOldReplicaSets() {
		return
	}
	if p.completeBeforeThisSync() {
		p.cleanup()
	}
}

// reconcileNewReplicaSet scales the new ReplicaSet toward replicas and reports whether it did.
func (p *planning) reconcileNewReplicaSet() bool {
	replicas, current := p.params.Replicas, *p.newRS.Spec.Replicas
	switch {
	case current == replicas:
		return false
	case current > replicas:
		return p.scale(p.newRS, replicas, false, reasonf("new ReplicaSet has %d replicas, more than the %d desired", current, replicas))
	}
	to := p.newReplicasFor(p.newRS, p.allRSs())
	return p.scale(p.newRS, to, false, reasonf("%d pods in all < %d desired + %d maxSurge", p.totalReplicas(), replicas, p.params.MaxSurge))
}

// newReplicasFor is the size the new ReplicaSet may grow to now: for RollingUpdate, as far as
// replicas + maxSurge allows counting every ReplicaSet's desired pods, never past replicas;
// for Recreate, replicas at once.
//
//	replicas 3, maxSurge 1, pods 3 old + 0 new → new grows to 1 (4 in all)
//	replicas 3, maxSurge 1, pods 2 old + 1 new → new grows to 2 (4 in all)
//	replicas 10, maxSurge 3, pods 10 old + 3 new → no room: new stays at 3
func (p *planning) newReplicasFor(newRS *appsv1.ReplicaSet, allRSs []*appsv1.ReplicaSet) int32 {
	if p.params.Strategy == stepwisev1alpha1.RecreateRolloutStrategyType {
		return p.params.Replicas
	}
	maxTotal := p.params.Replicas + p.params.MaxSurge
	current := sumSpec(allRSs)
	if current >= maxTotal {
		return *newRS.Spec.Replicas
	}
	return *newRS.Spec.Replicas + min(maxTotal-current, p.params.Replicas-*newRS.Spec.Replicas)
}

// reconcileOldReplicaSets scales old ReplicaSets down and reports whether it did. It may
// remove at most allPods - minAvailable - (new pods not yet available): first unhealthy old
// pods (ReplicaSets with desired > available, oldest first), then available ones, as long as
// the available pods stay at or above minAvailable.
//
//	replicas 3, maxUnavailable 1, old 3 (3 available) + new 1 (0 available):
//	  maxScaledDown = 4 - 2 - 1 = 1; available 3 > 2 → old scales to 2
func (p *planning) reconcileOldReplicaSets() bool {
	oldPods := sumSpec(p.oldRSs)
	if oldPods == 0 {
		return false
	}
	minAvailable := p.params.Replicas - p.params.MaxUnavailable
	newUnavailable := *p.newRS.Spec.Replicas - availableOf(p.newRS)
	maxScaledDown := p.totalReplicas() - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false
	}
	cleaned := p.cleanupUnhealthyReplicas(maxScaledDown)
	scaledDown := p.scaleDownOldForRollingUpdate()
	return cleaned+scaledDown > 0
}

// cleanupUnhealthyReplicas removes old pods that are not available, up to maxCleanup, oldest
// ReplicaSet first: they serve nobody, so removing them costs no availability.
func (p *planning) cleanupUnhealthyReplicas(maxCleanup int32) int32 {
	var total int32
	for _, rs := range p.oldRSs {
		if total >= maxCleanup {
			break
		}
		desired, available := *rs.Spec.Replicas, availableOf(rs)
		if desired == 0 || desired == available {
			continue
		}
		n := min(maxCleanup-total, desired-available)
		p.scale(rs, desired-n, false, reasonf("removing %d unavailable old pods (%d desired, %d available)", n, desired, available))
		total += n
	}
	return total
}

// scaleDownOldForRollingUpdate removes available old pods, oldest ReplicaSet first, down to
// minAvailable available pods in all.
func (p *planning) scaleDownOldForRollingUpdate() int32 {
	minAvailable := p.params.Replicas - p.params.MaxUnavailable
	available := sumAvailable(p.allRSs())
	if available <= minAvailable {
		return 0
	}
	budget := available - minAvailable
	var total int32
	for _, rs := range p.oldRSs {
		if total >= budget {
			break
		}
		desired := *rs.Spec.Replicas
		if desired == 0 {
			continue
		}
		n := min(desired, budget-total)
		p.scale(rs, desired-n, false, reasonf("%d available > %d desired - %d maxUnavailable", available-total, p.params.Replicas, p.params.MaxUnavailable))
		total += n
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
