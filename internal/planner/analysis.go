package planner

import (
	"fmt"
	"slices"
	"strconv"

	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/analysis"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// AnalysisStart is an analysis run to create for the current revision.
type AnalysisStart struct {
	// Point is where in the rollout the run belongs (analysis.StepPoint, BackgroundPoint).
	Point    string
	Attempt  int32
	Analysis *stepwisev1alpha1.RolloutAnalysis
	// StableHash is the pod-template-hash of the revision that served before this rollout.
	StableHash string
}

// AnalysisStop is a running analysis to terminate, and why.
type AnalysisStop struct {
	Run    *stepwisev1alpha1.AnalysisRun
	Reason string
}

// analysisPassed reports whether the analysis at point lets the rollout go on: its run ended
// Successful, or a person promoted past it. A missing run is planned; a failed one aborts the
// rollout (state.Aborted); an inconclusive or invalid one holds it until promoted.
func (p *planning) analysisPassed(state *stepwisev1alpha1.CanaryStatus, point string, check *stepwisev1alpha1.RolloutAnalysis) bool {
	p.wantedAnalysis[point] = true
	if slices.Contains(state.PromotedAnalyses, point) {
		return true
	}
	run := p.runFor(state, point)
	if run == nil {
		p.plan.StartAnalysis = append(p.plan.StartAnalysis, AnalysisStart{Point: point, Attempt: state.Attempt, Analysis: check, StableHash: p.stableHash()})
		return false
	}
	switch phase := run.Status.Phase; phase {
	case stepwisev1alpha1.AnalysisPhaseSuccessful:
		return true
	case stepwisev1alpha1.AnalysisPhaseFailed:
		state.Aborted, state.AbortReason = true, fmt.Sprintf("analysis %s failed: %s", run.Name, run.Status.Message)
		p.plan.AbortEvent = stepwisev1alpha1.EventAnalysisFailed
	case stepwisev1alpha1.AnalysisPhaseInconclusive, stepwisev1alpha1.AnalysisPhaseError:
		reason := stepwisev1alpha1.ReasonInconclusiveAnalysis
		if phase == stepwisev1alpha1.AnalysisPhaseError && len(run.Spec.Metrics) == 0 {
			reason = stepwisev1alpha1.ReasonInvalidAnalysis // it could not start
		}
		state.PausedAnalysis = point
		if p.plan.Hold == nil {
			p.plan.Hold = &status.Hold{Reason: reason,
				Message: fmt.Sprintf("Analysis %s ended %s (%s); promote to go on, abort to go back", run.Name, phase, run.Status.Message)}
		}
	}
	return false
}

// backgroundAnalysis consults the background analysis from its starting step until the
// rollout completes. While an inconclusive run holds the rollout, the new revision grows no
// further.
func (p *planning) backgroundAnalysis(state *stepwisev1alpha1.CanaryStatus, bg *stepwisev1alpha1.BackgroundAnalysis) {
	if state.CurrentStep < ptr.Deref(bg.StartingStep, 0) || p.completeBeforeThisSync() {
		return
	}
	if !p.analysisPassed(state, analysis.BackgroundPoint, &bg.RolloutAnalysis) && state.PausedAnalysis == analysis.BackgroundPoint && p.newRS != nil {
		p.target = min(p.target, *p.newRS.Spec.Replicas)
	}
}

// runFor is the run of point for the current revision and attempt, or nil.
func (p *planning) runFor(state *stepwisev1alpha1.CanaryStatus, point string) *stepwisev1alpha1.AnalysisRun {
	hash, attempt := status.CurrentHash(p.s.Rollout), strconv.Itoa(int(state.Attempt))
	for _, run := range p.s.AnalysisRuns {
		l := run.Labels
		if l[stepwisev1alpha1.AnalysisPointLabel] == point && l[stepwisev1alpha1.AnalysisAttemptLabel] == attempt && l[stepwisev1alpha1.PodTemplateHashLabel] == hash {
			return run
		}
	}
	return nil
}

// stableHash is the pod-template-hash of the newest older revision that has pods.
func (p *planning) stableHash() string {
	for i := len(p.oldRSs) - 1; i >= 0; i-- {
		if *p.oldRSs[i].Spec.Replicas > 0 || p.oldRSs[i].Status.Replicas > 0 {
			return p.oldRSs[i].Labels[stepwisev1alpha1.PodTemplateHashLabel]
		}
	}
	return ""
}

// stopAnalyses terminates the running analyses the rollout no longer waits for: those of
// another template or attempt, of an aborted rollout, of a step promoted past, and the
// background one once the rollout completed. A paused Rollout or a scaling event leaves them
// running.
func (p *planning) stopAnalyses() {
	if !p.progressPlanned && p.params.Strategy == stepwisev1alpha1.RollingUpdateRolloutStrategyType {
		return
	}
	hash, state := status.CurrentHash(p.s.Rollout), p.plan.Canary
	if state == nil {
		state = &stepwisev1alpha1.CanaryStatus{}
	}
	for _, run := range p.s.AnalysisRuns {
		if run.Spec.Terminate || run.Status.Phase.Completed() {
			continue
		}
		point := run.Labels[stepwisev1alpha1.AnalysisPointLabel]
		var reason string
		switch {
		case run.Labels[stepwisev1alpha1.PodTemplateHashLabel] != hash:
			reason = "superseded: the Rollout's template changed"
		case run.Labels[stepwisev1alpha1.AnalysisAttemptLabel] != strconv.Itoa(int(state.Attempt)):
			reason = "superseded: the rollout was retried"
		case state.Aborted:
			reason = "the rollout was aborted"
		case p.wantedAnalysis[point]:
			continue
		case point == analysis.BackgroundPoint:
			reason = "the rollout completed"
		default:
			reason = fmt.Sprintf("skipped: the rollout went past %s", point)
		}
		p.plan.StopAnalysis = append(p.plan.StopAnalysis, AnalysisStop{Run: run, Reason: reason})
	}
}
