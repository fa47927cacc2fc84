package status

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/analysis"
	"github.com/stepwise-dev/stepwise/internal/revision"
)

// Promote returns the canary state after a promotion: the rollout goes on to the next step
// (a pause at the current one is over), or with full past every step. It refuses when the
// controller has not seen the current template yet, when the rollout was aborted, or when no
// step is left. A BlueGreen rollout has one step: the switch of its active Service.
func Promote(ro *stepwisev1alpha1.Rollout, full bool) (*stepwisev1alpha1.CanaryStatus, error) {
	steps := int32(len(ro.Spec.Strategy.RollingUpdate.GetSteps()))
	if ro.Spec.Strategy.Type == stepwisev1alpha1.BlueGreenRolloutStrategyType {
		steps = 1 // one pause: before the active Service switches
	}
	switch {
	case ro.Spec.Strategy.Type == stepwisev1alpha1.RecreateRolloutStrategyType:
		return nil, errRecreate(ro)
	case steps == 0 && ro.Spec.Strategy.RollingUpdate.GetAnalysis() == nil:
		return nil, fmt.Errorf("rollout %q has no canary steps to promote (a partition is lowered by editing spec.strategy.rollingUpdate.partition)", ro.Name)
	}
	st, err := currentCanary(ro)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return nil, fmt.Errorf("rollout %q has no canary state for its current template yet; try again", ro.Name)
	case st.Aborted:
		return nil, fmt.Errorf("rollout %q was aborted: run 'kubectl stepwise retry' first", ro.Name)
	case st.PausedAnalysis == analysis.BackgroundPoint || st.PausedAnalysis == analysis.PostPromotionPoint:
		// An inconclusive background or post-promotion analysis: go on without it for this
		// revision.
		st.PromotedAnalyses = append(st.PromotedAnalyses, st.PausedAnalysis)
		st.PausedAnalysis = ""
		return st, nil
	case st.CurrentStep >= steps:
		return nil, fmt.Errorf("rollout %q is past its last canary step: nothing to promote", ro.Name)
	}
	st.CurrentStep++
	if full {
		st.CurrentStep = steps
	}
	st.PauseStartTime = nil
	return st, nil
}

// Abort returns the canary state of an aborted rollout: the new revision is scaled down and
// the stable one holds. A complete rollout has nothing to abort (undo brings a revision back).
func Abort(ro *stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error) {
	st, err := currentCanary(ro)
	switch {
	case err != nil:
		return nil, err
	case st != nil && st.Aborted:
		return nil, fmt.Errorf("rollout %q is already aborted", ro.Name)
	}
	if ro.Spec.Strategy.Type == stepwisev1alpha1.BlueGreenRolloutStrategyType {
		return nil, fmt.Errorf("rollout %q is BlueGreen: the active Service only switches on promotion, and 'kubectl stepwise undo' inside scaleDownDelaySeconds switches it back", ro.Name)
	}
	if _, done, _ := View(ro); done {
		return nil, fmt.Errorf("rollout %q is complete: nothing to abort (use 'kubectl stepwise undo' to go back)", ro.Name)
	}
	return aborted(ro, st, "aborted with kubectl stepwise abort"), nil
}

// aborted is st (or a fresh state for the current template) marked aborted for reason.
func aborted(ro *stepwisev1alpha1.Rollout, st *stepwisev1alpha1.CanaryStatus, reason string) *stepwisev1alpha1.CanaryStatus {
	if st == nil {
		st = &stepwisev1alpha1.CanaryStatus{PodTemplateHash: CurrentHash(ro)}
	}
	st.Aborted, st.AbortReason, st.PauseStartTime = true, reason, nil
	return st
}

// PauseOnDeadline reports whether the controller must set spec.paused: the rollout just
// exceeded its progress deadline and its progressDeadlineAction is Pause.
func PauseOnDeadline(ro *stepwisev1alpha1.Rollout, st *stepwisev1alpha1.RolloutStatus) bool {
	return ro.Spec.ProgressDeadlineAction == stepwisev1alpha1.ProgressDeadlineActionPause && !ro.Spec.Paused && deadlineExceeded(st)
}

func deadlineExceeded(st *stepwisev1alpha1.RolloutStatus) bool {
	cond := meta.FindStatusCondition(st.Conditions, stepwisev1alpha1.ConditionProgressing)
	return cond != nil && cond.Reason == stepwisev1alpha1.ReasonProgressDeadlineExceeded
}

// Retry returns the canary state of an aborted rollout started over from its first step.
func Retry(ro *stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error) {
	st, err := currentCanary(ro)
	switch {
	case err != nil:
		return nil, err
	case st == nil || !st.Aborted:
		return nil, fmt.Errorf("rollout %q is not aborted: nothing to retry", ro.Name)
	}
	return &stepwisev1alpha1.CanaryStatus{PodTemplateHash: st.PodTemplateHash, Attempt: st.Attempt + 1}, nil
}

// currentCanary is RecordedCanary once the controller has observed the current generation.
func currentCanary(ro *stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error) {
	if ro.Spec.Strategy.Type == stepwisev1alpha1.RecreateRolloutStrategyType {
		return nil, errRecreate(ro)
	}
	if ro.Status.ObservedGeneration < ro.Generation {
		return nil, fmt.Errorf("the controller has not observed generation %d of rollout %q yet; try again", ro.Generation, ro.Name)
	}
	return RecordedCanary(ro), nil
}

// RecordedCanary is a copy of status.canary when it belongs to the current template, else
// nil: state recorded for another template is void.
func RecordedCanary(ro *stepwisev1alpha1.Rollout) *stepwisev1alpha1.CanaryStatus {
	if st := ro.Status.Canary; st != nil && st.PodTemplateHash == CurrentHash(ro) {
		return st.DeepCopy()
	}
	return nil
}

// CurrentHash is the pod-template-hash of the Rollout's current template.
func CurrentHash(ro *stepwisev1alpha1.Rollout) string {
	return revision.ComputeHash(&ro.Spec.Template, ro.Status.CollisionCount)
}

// errRecreate refuses promote, abort and retry for a Recreate Rollout.
func errRecreate(ro *stepwisev1alpha1.Rollout) error {
	return fmt.Errorf("rollout %q uses the Recreate strategy: canary steps, abort and retry need RollingUpdate", ro.Name)
}
