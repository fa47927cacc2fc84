package planner

import (
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/analysis"
	"github.com/stepwise-dev/stepwise/internal/revision"
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
	// Skip: a person promoted past the run before it decided; it ends Skipped.
	Skip bool
}

// analysisPassed reports whether the analysis at point lets the rollout go on: its run ended
// Successful, or a person promoted past it. A missing run is planned; a failed one aborts the
// rollout (state.Aborted); an inconclusive or invalid one holds it until promoted.
func (p *planning) analysisPassed(state *stepwisev1alpha1.CanaryStatus, point string, check *stepwisev1alpha1.RolloutAnalysis) bool {
	p.wantedAnalysis[point] = true
	if slices.Contains(state.PromotedAnalyses, point) {
		return true
	}
	if p.newRS == nil {
		return false // the run is named after the new revision, which does not exist yet
	}
	run := p.runFor(state, point)
	if run == nil {
		p.plan.StartAnalysis = append(p.plan.StartAnalysis, AnalysisStart{Point: point, Attempt: state.Attempt, Analysis: check, StableHash: p.stableHash()})
		return false
	}
	switch phase := run.Status.Phase; phase {
	case stepwisev1alpha1.AnalysisPhaseSuccessful:
		if point != analysis.BackgroundPoint {
			p.analysisEvent(corev1.EventTypeNormal, stepwisev1alpha1.EventAnalysisSuccessful, "Analysis %s passed (%s): going on", run.Name, run.Status.Message)
		}
		return true
	case stepwisev1alpha1.AnalysisPhaseSkipped:
		return true // a person promoted past it
	case stepwisev1alpha1.AnalysisPhaseFailed:
		state.Aborted, state.AbortReason = true, fmt.Sprintf("analysis %s failed: %s", run.Name, run.Status.Message)
		p.plan.AbortEvent = stepwisev1alpha1.EventAnalysisFailed
	case stepwisev1alpha1.AnalysisPhaseInconclusive, stepwisev1alpha1.AnalysisPhaseError:
		reason := stepwisev1alpha1.ReasonInconclusiveAnalysis
		if run.Spec.Invalid != "" {
			reason = stepwisev1alpha1.ReasonInvalidAnalysis // it could not start
		}
		if p.recordedPausedAnalysis() != point {
			p.analysisEvent(corev1.EventTypeWarning, stepwisev1alpha1.EventAnalysisInconclusive, "Analysis %s ended %s: %s", run.Name, phase, run.Status.Message)
		}
		state.PausedAnalysis = point
		if p.plan.Hold == nil {
			p.plan.Hold = &status.Hold{Reason: reason,
				Message: fmt.Sprintf("Analysis %s ended %s (%s); promote to go on, abort to go back", run.Name, phase, run.Status.Message)}
		}
	}
	return false
}

// AnalysisEvent is an event the reconciler records on the Rollout about an analysis outcome.
type AnalysisEvent struct {
	Type, Reason, Message string
}

func (p *planning) analysisEvent(eventType, reason, format string, args ...any) {
	p.plan.AnalysisEvents = append(p.plan.AnalysisEvents, AnalysisEvent{Type: eventType, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

// recordedPausedAnalysis is the analysis point the last status recorded as holding the
// rollout: an outcome is reported when it first holds it, not on every reconcile.
func (p *planning) recordedPausedAnalysis() string {
	if st := status.RecordedCanary(p.s.Rollout); st != nil {
		return st.PausedAnalysis
	}
	return ""
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

// runFor is the run of point for the new revision (its hash and number) and the current
// attempt, or nil.
func (p *planning) runFor(state *stepwisev1alpha1.CanaryStatus, point string) *stepwisev1alpha1.AnalysisRun {
	for _, run := range p.s.AnalysisRuns {
		if run.Labels[stepwisev1alpha1.AnalysisPointLabel] == point && p.ofThisAttempt(run, state) {
			return run
		}
	}
	return nil
}

// ofThisAttempt reports whether run analyses the new revision in the current attempt.
func (p *planning) ofThisAttempt(run *stepwisev1alpha1.AnalysisRun, state *stepwisev1alpha1.CanaryStatus) bool {
	l := run.Labels
	return p.newRS != nil && l[stepwisev1alpha1.PodTemplateHashLabel] == p.newRS.Labels[stepwisev1alpha1.PodTemplateHashLabel] &&
		l[stepwisev1alpha1.AnalysisRevisionLabel] == strconv.FormatInt(revision.Of(p.newRS), 10) &&
		l[stepwisev1alpha1.AnalysisAttemptLabel] == strconv.Itoa(int(state.Attempt))
}

// stableHash is the pod-template-hash of the stable revision (stableRS), "" when there is none.
func (p *planning) stableHash() string {
	if stable := p.stableRS(); stable != nil {
		return stable.Labels[stepwisev1alpha1.PodTemplateHashLabel]
	}
	return ""
}

// stopAnalyses terminates the running analyses the rollout no longer waits for: those of
// another template or attempt, of an aborted rollout, of a step promoted past, and the
// background one once the rollout completed. A paused Rollout or a scaling event leaves them
// running: only a plan that decided where the rollout stands (progressPlanned) stops any.
func (p *planning) stopAnalyses() {
	if !p.progressPlanned {
		return
	}
	state := p.plan.Canary
	if state == nil {
		state = &stepwisev1alpha1.CanaryStatus{}
	}
	kept := map[string]bool{}
	for _, rs := range p.allRSs() {
		kept[rs.Labels[stepwisev1alpha1.PodTemplateHashLabel]] = true
	}
	for _, run := range p.s.AnalysisRuns {
		if !kept[run.Labels[stepwisev1alpha1.PodTemplateHashLabel]] && (run.Spec.Terminate || run.Status.Phase.Completed()) {
			p.plan.DeleteAnalysis = append(p.plan.DeleteAnalysis, run) // its revision is gone from the history
			continue
		}
		if run.Spec.Terminate || run.Status.Phase.Completed() {
			continue
		}
		point := run.Labels[stepwisev1alpha1.AnalysisPointLabel]
		var reason string
		skip := false
		switch {
		case !p.ofThisAttempt(run, state) && run.Labels[stepwisev1alpha1.AnalysisAttemptLabel] == strconv.Itoa(int(state.Attempt)):
			reason = "superseded: the Rollout's template changed"
		case !p.ofThisAttempt(run, state):
			reason = "superseded: the rollout was retried"
		case state.Aborted:
			reason = "the rollout was aborted"
		case p.wantedAnalysis[point]:
			continue
		case point == analysis.BackgroundPoint:
			reason = "the rollout completed"
		case point == analysis.PrePromotionPoint:
			reason, skip = "skipped: the new revision was promoted", true
		default:
			reason, skip = fmt.Sprintf("skipped: the rollout went past %s", point), true
		}
		p.plan.StopAnalysis = append(p.plan.StopAnalysis, AnalysisStop{Run: run, Reason: reason, Skip: skip})
	}
}
