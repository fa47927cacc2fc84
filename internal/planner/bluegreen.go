package planner

import (
	"fmt"
	"time"

	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/analysis"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// blueGreen plans one step of a BlueGreen rollout: the new revision runs at full size beside
// the active one, the preview Service points at it, and once it is fully available and
// promoted (by kubectl stepwise promote, by autoPromotionSeconds, or at once when it was the
// active revision inside the scale-down window: an undo) the active Service switches to it.
// The revision the active Service left keeps its pods for scaleDownDelaySeconds; every other
// old revision serves nothing and is scaled down. status.canary.currentStep is 1 once promoted.
//
//	replicas 3, v1 active: v2 created at 3, preview → v2; v2 3/3 available → paused;
//	promote → active → v2, v1 kept until scaleDownAt, then v1 → 0
func (p *planning) blueGreen() {
	p.plan.RollsForward = true
	p.progressPlanned = true
	bg, replicas, now := p.s.Rollout.Spec.Strategy.BlueGreen, p.params.Replicas, p.s.Now
	state := p.canaryState()
	state.PausedAnalysis = "" // set again below while an analysis holds the rollout
	p.plan.Canary = state
	p.plan.BlueGreen = p.s.Rollout.Status.BlueGreen.DeepCopy()
	if p.plan.BlueGreen == nil {
		p.plan.BlueGreen = &stepwisev1alpha1.BlueGreenStatus{}
	}
	window := p.plan.BlueGreen

	p.syncNewReplicaSet(true)
	newHash := p.newRS.Labels[stepwisev1alpha1.PodTemplateHashLabel]
	if state.Aborted {
		p.blueGreenAborted(state, window, newHash)
		return
	}
	p.scale(p.newRS, replicas, true, "blue-green: the new revision runs at full size beside the active one")
	p.pointService(bg.PreviewService, p.s.PreviewHash, newHash)

	active := p.s.ActiveHash
	switch {
	case active == newHash:
	case !p.hasOldPods():
		active = newHash // the first revision: nothing else serves
	case availableOf(p.newRS) < replicas:
		// Not ready to take traffic yet: the progress deadline applies.
	case state.CurrentStep >= 1 || p.inScaleDownWindow(window, newHash):
		active = newHash // promoted, or an undo inside the scale-down window
	case bg.PrePromotionAnalysis != nil && !p.analysisPassed(state, analysis.PrePromotionPoint, bg.PrePromotionAnalysis):
		if state.Aborted {
			p.blueGreenAborted(state, window, newHash)
			return
		}
		// The preview is being analysed, or an inconclusive result holds it.
	default:
		if state.PauseStartTime == nil {
			state.PauseStartTime = status.RoundUpToSecond(now)
		}
		message := fmt.Sprintf("Revision %d is fully available behind the preview Service %q; waiting for promotion to the active Service %q",
			revision.Of(p.newRS), bg.PreviewService, bg.ActiveService)
		if d := bg.AutoPromotionSeconds; d != nil {
			end := state.PauseStartTime.Add(time.Duration(*d) * time.Second)
			if !now.Before(end) {
				active = newHash
				break
			}
			p.plan.RequeueAfter = end.Sub(now)
			message += fmt.Sprintf(" (promoting by itself after %ds)", *d)
		}
		p.plan.Hold = &status.Hold{Reason: stepwisev1alpha1.ReasonAwaitingPromotion, Message: message}
	}
	if active == newHash && p.s.ActiveHash != newHash {
		p.pointService(bg.ActiveService, p.s.ActiveHash, newHash)
		state.CurrentStep, state.PauseStartTime = 1, nil
		if p.s.ActiveHash != "" {
			delay := time.Duration(ptr.Deref(bg.ScaleDownDelaySeconds, stepwisev1alpha1.DefaultScaleDownDelaySeconds)) * time.Second
			window.PreviousActiveHash, window.ScaleDownAt = p.s.ActiveHash, status.RoundUpToSecond(now.Add(delay))
		}
	}
	keepPrevious := false
	if post := bg.PostPromotionAnalysis; post != nil && p.s.ActiveHash == newHash && window.PreviousActiveHash != "" && window.PreviousActiveHash != newHash {
		// After the switch: the previous revision keeps its pods until the analysis passes.
		keepPrevious = !p.analysisPassed(state, analysis.PostPromotionPoint, post)
		if state.Aborted {
			p.blueGreenAborted(state, window, newHash)
			return
		}
	}
	p.scaleDownInactive(active, window, keepPrevious)
}

// blueGreenAborted holds an aborted BlueGreen rollout: the active Service stays on (or goes
// straight back to) the stable revision, the revision the failed analysis judged scales down.
// After a post-promotion failure the stable revision is the one the switch left, still up
// because the analysis held its scale-down.
func (p *planning) blueGreenAborted(state *stepwisev1alpha1.CanaryStatus, window *stepwisev1alpha1.BlueGreenStatus, newHash string) {
	bg := p.s.Rollout.Spec.Strategy.BlueGreen
	stable := p.s.ActiveHash
	if stable == newHash {
		stable = window.PreviousActiveHash
	}
	if stable != "" {
		p.pointService(bg.ActiveService, p.s.ActiveHash, stable)
	}
	p.target = 0
	p.scale(p.newRS, 0, false, "blue-green: the aborted revision serves no traffic")
	p.scaleDownInactive(stable, window, true)
	p.plan.Hold = &status.Hold{Reason: stepwisev1alpha1.ReasonRolloutAborted,
		Message: fmt.Sprintf("Rollout aborted (%s): the active Service stays on the stable revision and the new one is scaled down; retry or change the template to go on", state.AbortReason)}
}

// scaleDownInactive keeps the active revision (before a switch, the stable one) and the one the
// active Service just left at full size, the latter until its scale-down time (or while
// keepPrevious), and scales every other old revision to 0: they serve nothing.
func (p *planning) scaleDownInactive(active string, window *stepwisev1alpha1.BlueGreenStatus, keepPrevious bool) {
	for _, rs := range p.oldRSs {
		hash := rs.Labels[stepwisev1alpha1.PodTemplateHashLabel]
		switch {
		case hash == active:
			p.scale(rs, p.params.Replicas, true, "blue-green: the active revision keeps serving")
		case keepPrevious && hash == window.PreviousActiveHash:
			p.scale(rs, p.params.Replicas, true, "blue-green: the previous revision stays up while the post-promotion analysis runs")
		case p.inScaleDownWindow(window, hash):
			p.scale(rs, p.params.Replicas, true, "blue-green: the previous revision stays up for an instant switch back")
			p.plan.RequeueAfter = Earliest(p.plan.RequeueAfter, window.ScaleDownAt.Sub(p.s.Now))
		default:
			p.scale(rs, 0, false, "blue-green: the revision serves no traffic")
		}
	}
}

// inScaleDownWindow reports whether hash is the revision the active Service last left and its
// scale-down time has not come yet.
func (p *planning) inScaleDownWindow(window *stepwisev1alpha1.BlueGreenStatus, hash string) bool {
	return hash == window.PreviousActiveHash && window.ScaleDownAt != nil && p.s.Now.Before(window.ScaleDownAt.Time)
}

// pointService plans a switch of service's selector to hash, when it points elsewhere.
func (p *planning) pointService(service, current, hash string) {
	if service != "" && current != hash {
		p.plan.Services = append(p.plan.Services, ServiceSwitch{Service: service, From: current, To: hash})
	}
}

func (p *planning) hasOldPods() bool { return sumSpec(p.oldRSs) > 0 }

// ServiceSwitch points a Service's selector at a revision's pod-template-hash.
type ServiceSwitch struct {
	Service  string
	From, To string
}
