package planner

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	appsv1 "k8s.io/api/apps/v1"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
)

// isScalingEvent reports whether spec.replicas changed since the active ReplicaSets were last
// sized: one of them records a different desired size.
func (p *planning) isScalingEvent() bool {
	for _, rs := range p.allRSs() {
		if *rs.Spec.Replicas == 0 {
			continue
		}
		if desired, ok := sizeAnnotation(rs, stepwisev1alpha1.DesiredReplicasAnnotation); ok && desired != p.params.Replicas {
			return true
		}
	}
	return false
}

// sync plans a paused Rollout or a scaling event: the new ReplicaSet's annotations are kept
// current (it is not created), the size change is applied, and a paused Rollout's history is
// pruned. The rollout itself does not move.
func (p *planning) sync() {
	p.syncNewReplicaSet(false)
	p.scaleToReplicas()
	if p.s.Rollout.Spec.Paused {
		p.cleanup()
	}
}

// scaleToReplicas brings the ReplicaSets to the Rollout's size. With one active ReplicaSet
// (or none) it takes the whole size; when the new one is saturated the old ones go; otherwise,
// mid-rollout, the change is spread over the active ReplicaSets in proportion to their sizes.
func (p *planning) scaleToReplicas() {
	replicas := p.params.Replicas
	if target := p.activeOrLatest(); target != nil {
		size, reason := replicas, fmt.Sprintf("the only active ReplicaSet takes all %d desired replicas", replicas)
		if current := *target.Spec.Replicas; replicas > current && p.params.PodReplacement != stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes {
			// Pods of ReplicaSets already scaled to 0 may still exist: they keep their room.
			if size = current + p.roomToGrow(replicas-current); size < replicas {
				reason = fmt.Sprintf("the only active ReplicaSet grows toward %d desired replicas as far as pods that still exist leave room (%d + %d maxSurge)",
					replicas, replicas, p.params.MaxSurge)
			}
		}
		p.scale(target, size, false, reason)
		return
	}
	if p.newSaturated() {
		for _, rs := range p.oldRSs {
			if *rs.Spec.Replicas > 0 {
				p.scale(rs, 0, false, "the new ReplicaSet is saturated")
			}
		}
		return
	}
	if p.params.Strategy == stepwisev1alpha1.RollingUpdateRolloutStrategyType {
		p.scaleProportionally()
	}
}

// activeOrLatest is the single ReplicaSet with replicas, or (when none has any) the new one, or
// the newest old one; nil when several have replicas.
func (p *planning) activeOrLatest() *appsv1.ReplicaSet {
	var active []*appsv1.ReplicaSet
	for _, rs := range p.allRSs() {
		if *rs.Spec.Replicas > 0 {
			active = append(active, rs)
		}
	}
	switch {
	case len(active) == 1:
		return active[0]
	case len(active) > 1:
		return nil
	case p.newRS != nil:
		return p.newRS
	case len(p.oldRSs) > 0:
		return p.oldRSs[len(p.oldRSs)-1]
	}
	return nil
}

// newSaturated reports whether the new ReplicaSet alone runs the Rollout at full size.
func (p *planning) newSaturated() bool {
	rs := p.newRS
	if rs == nil {
		return false
	}
	desired, ok := sizeAnnotation(rs, stepwisev1alpha1.DesiredReplicasAnnotation)
	return ok && *rs.Spec.Replicas == p.params.Replicas && desired == p.params.Replicas &&
		rs.Status.AvailableReplicas == p.params.Replicas
}

// scaleProportionally spreads the change between the active ReplicaSets' total and the new
// allowed size (replicas + maxSurge) in proportion to each one's size relative to the size the
// Rollout had when it was last scaled (the max-replicas annotation). The rounding leftover goes
// to the largest ReplicaSet (when adding, the newest of equal ones; when removing, the oldest).
//
//	replicas 10 → 20, maxSurge 3, old 8 + new 5 (max-replicas 13): allowed 23, add 10;
//	  old 8×23/13 = 14.2 → +6, new 5×23/13 = 8.8 → +4: old 14, new 9
func (p *planning) scaleProportionally() {
	var active []*appsv1.ReplicaSet
	for _, rs := range p.allRSs() {
		if *rs.Spec.Replicas > 0 {
			active = append(active, rs)
		}
	}
	allowed := int32(0)
	if p.params.Replicas > 0 {
		allowed = p.params.Replicas + p.params.MaxSurge
	}
	toAdd := allowed - sumSpec(active)
	// Largest first; ties: newer first when adding, older first when removing.
	slices.SortStableFunc(active, func(a, b *appsv1.ReplicaSet) int {
		if c := cmp.Compare(*b.Spec.Replicas, *a.Spec.Replicas); c != 0 {
			return c
		}
		if toAdd > 0 {
			return revision.CompareByAge(b, a)
		}
		return revision.CompareByAge(a, b)
	})
	sizes := make([]int32, len(active))
	added := int32(0)
	for i, rs := range active {
		sizes[i] = *rs.Spec.Replicas
		if toAdd != 0 {
			share := p.proportion(rs, toAdd, added)
			sizes[i] += share
			added += share
		}
	}
	if toAdd != 0 && len(active) > 0 {
		sizes[0] = max(0, sizes[0]+toAdd-added)
	}
	// Under podReplacementPolicy's count the spread waits, whole (a part would spread
	// differently from a Deployment), for a ReplicaSet it shrinks to have created its pods,
	// and when it adds pods, for scaled-down ones to be gone (podPlaces).
	for i, rs := range active {
		if sizes[i] < *rs.Spec.Replicas && p.stillCreating(rs) {
			return
		}
	}
	if toAdd > 0 && p.podPlacesInAll() > p.totalReplicas() {
		return
	}
	for i, rs := range active {
		p.scale(rs, sizes[i], true, fmt.Sprintf("replicas changed to %d: %+d pods spread in proportion over %d active ReplicaSets", p.params.Replicas, toAdd, len(active)))
	}
}

// proportion is rs's share of toAdd, bounded by what is left to add (or remove).
func (p *planning) proportion(rs *appsv1.ReplicaSet, toAdd, added int32) int32 {
	if *rs.Spec.Replicas == 0 || toAdd == added {
		return 0
	}
	fraction := p.fraction(rs)
	if toAdd > 0 {
		return min(fraction, toAdd-added)
	}
	return max(fraction, toAdd-added)
}

// fraction is how many replicas rs gains (or loses) when the Rollout goes from the size it had
// at rs's last scaling to its new allowed size.
func (p *planning) fraction(rs *appsv1.ReplicaSet) int32 {
	if p.params.Replicas == 0 {
		return -*rs.Spec.Replicas
	}
	allowed := p.params.Replicas + p.params.MaxSurge
	before, ok := sizeAnnotation(rs, stepwisev1alpha1.MaxReplicasAnnotation)
	if !ok || before == 0 {
		before = p.s.Rollout.Status.Replicas
		if before == 0 {
			return 0
		}
	}
	newSize := float64(*rs.Spec.Replicas) * float64(allowed) / float64(before)
	return int32(math.Round(newSize)) - *rs.Spec.Replicas
}
