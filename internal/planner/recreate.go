package planner

// recreate plans one step of a Recreate rollout: scale every old ReplicaSet to 0, wait until
// none of their pods runs (terminating ones included), then create or scale up the new one.
func (p *planning) recreate() {
	p.plan.RollsForward = true
	p.progressPlanned = true // no analysis: any run left from another strategy stops
	p.syncNewReplicaSet(false)
	scaledDown := false
	for _, rs := range p.oldRSs {
		if *rs.Spec.Replicas > 0 {
			p.scale(rs, 0, false, "Recreate: old pods go before new ones start")
			scaledDown = true
		}
	}
	if scaledDown || p.oldPodsRunning() {
		return
	}
	if p.newRS == nil {
		p.syncNewReplicaSet(true)
	}
	p.scale(p.newRS, p.params.Replicas, false, "Recreate: no old pod runs any more")
	if p.completeBeforeThisSync() {
		p.cleanup()
	}
}

// oldPodsRunning reports whether an old ReplicaSet may still have a pod, running or
// terminating. A ReplicaSet whose status has not caught up with its spec counts as running.
// (Terminating pods are known from status.terminatingReplicas, which ReplicaSets report from
// Kubernetes 1.35 on; where it is absent only status.replicas counts.)
func (p *planning) oldPodsRunning() bool {
	for _, rs := range p.oldRSs {
		st := rs.Status
		if st.Replicas > 0 || st.ObservedGeneration < rs.Generation ||
			(st.TerminatingReplicas != nil && *st.TerminatingReplicas > 0) {
			return true
		}
	}
	return false
}
