package planner

import (
	"fmt"
	"time"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/analysis"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// planProgress decides how many pods the new revision may have now (p.target) and where the
// rollout of the current revision stands: its canary step, a pause, a partition, an abort.
// The state lives in status.canary; a step counts as reached when the new ReplicaSet has the
// step's pods, all available, and the old ones hold the rest.
//
//	replicas 10, steps [1 pod + pause, 50%], at step 0 with new 1/1 available, old 9:
//	  step 0 reached → paused (Hold), target stays 1 until promoted
//	the same after promotion (currentStep 1): target 5
func (p *planning) planProgress() {
	ro, params := p.s.Rollout, p.params
	state := p.canaryState()
	steps := ro.Spec.Strategy.RollingUpdate.GetSteps()
	maxNew := params.Replicas - params.Partition
	p.target = maxNew
	p.plan.Canary = nil
	p.progressPlanned = true
	state.PausedAnalysis = "" // set again below while an analysis holds the rollout
	switch {
	case state.Aborted:
		p.abort(state)
		return
	case len(p.oldRSs) == 0 || params.Replicas == 0:
		// The first revision (or no pods at all): there is nothing to step from or keep.
		p.target = params.Replicas
		if len(steps) > 0 {
			state.CurrentStep, state.PauseStartTime = int32(len(steps)), nil
			p.plan.Canary = state
		}
		return
	}
	if problem := p.unhealthyNewPod(); problem != "" && !p.completeBeforeThisSync() {
		state.Aborted, state.AbortReason = true, problem
		p.plan.AbortEvent = stepwisev1alpha1.EventPodUnhealthy
		p.abort(state)
		return
	}
	for int(state.CurrentStep) < len(steps) {
		i := state.CurrentStep
		if steps[i].Analysis != nil {
			// Its run goes on while the step's pods are not (or no longer) all available.
			p.wantedAnalysis[analysis.StepPoint(i)] = true
		}
		target := min(params.StepTargets[i], maxNew)
		p.target = target
		if !p.reached(target) {
			break
		}
		if check := steps[i].Analysis; check != nil && !p.analysisPassed(state, analysis.StepPoint(i), check) {
			if state.Aborted {
				p.abort(state)
				return
			}
			break
		}
		pause := steps[i].Pause
		if pause == nil {
			state.CurrentStep++
			continue
		}
		if state.PauseStartTime == nil {
			state.PauseStartTime = status.RoundUpToSecond(p.s.Now)
		}
		until := "waiting for promotion"
		if pause.DurationSeconds != nil {
			end := state.PauseStartTime.Add(time.Duration(*pause.DurationSeconds) * time.Second)
			if !p.s.Now.Before(end) {
				state.CurrentStep, state.PauseStartTime = state.CurrentStep+1, nil
				continue
			}
			p.plan.RequeueAfter = end.Sub(p.s.Now)
			until = fmt.Sprintf("going on after %ds or when promoted", *pause.DurationSeconds)
		}
		p.plan.Hold = &status.Hold{Reason: stepwisev1alpha1.ReasonCanaryPauseStep,
			Message: fmt.Sprintf("Paused at step %d of %d (%d of %d pods on the new revision), %s", i+1, len(steps), target, params.Replicas, until)}
		break
	}
	if int(state.CurrentStep) >= len(steps) {
		p.target = maxNew
		if params.Partition > 0 && p.reached(maxNew) {
			p.plan.Hold = &status.Hold{Reason: stepwisev1alpha1.ReasonPartitionReached,
				Message: fmt.Sprintf("%d of %d pods run the new revision; the partition keeps %d on older revisions", maxNew, params.Replicas, params.Partition)}
		}
	}
	if bg := ro.Spec.Strategy.RollingUpdate.GetAnalysis(); bg != nil {
		if p.backgroundAnalysis(state, bg); state.Aborted {
			p.abort(state)
			return
		}
	}
	if len(steps) > 0 || ro.Spec.Strategy.RollingUpdate.GetAnalysis() != nil {
		p.plan.Canary = state
	}
}

// abort holds an aborted rollout: the new revision scaled down, the stable one holding every
// pod.
func (p *planning) abort(state *stepwisev1alpha1.CanaryStatus) {
	p.target = 0
	p.plan.Canary = state
	p.plan.Hold = &status.Hold{Reason: stepwisev1alpha1.ReasonRolloutAborted,
		Message: fmt.Sprintf("Rollout aborted (%s): the new revision is scaled down and the stable revision holds every pod; retry or change the template to go on", state.AbortReason)}
}

// canaryState is the recorded state when it belongs to the current template, else a fresh
// one at step 0.
func (p *planning) canaryState() *stepwisev1alpha1.CanaryStatus {
	if st := status.RecordedCanary(p.s.Rollout); st != nil {
		return st
	}
	return &stepwisev1alpha1.CanaryStatus{PodTemplateHash: status.CurrentHash(p.s.Rollout)}
}

// reached reports whether the new revision runs target available pods and the old revisions
// are scaled to the rest with their surplus pods gone, as the snapshot shows them: the split a
// person observes at a pause is the real one.
func (p *planning) reached(target int32) bool {
	var newPods, newAvailable int32
	if p.newRS != nil {
		newPods, newAvailable = *p.newRS.Spec.Replicas, availableOf(p.newRS)
	}
	if newPods != target || newAvailable < target || sumSpec(p.oldRSs) != p.params.Replicas-target {
		return false
	}
	for _, rs := range p.oldRSs {
		if rs.Status.ObservedGeneration < rs.Generation || rs.Status.Replicas > *rs.Spec.Replicas {
			return false
		}
	}
	return true
}
