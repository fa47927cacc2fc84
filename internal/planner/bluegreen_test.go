package planner

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// blueGreenTick reconciles once and checks a blue-green rollout's promise: each Service
// selects a revision whose every pod is available (traffic never moves to a revision that
// is not ready), and one ReplicaSet per template.
func (ps *progressiveSim) blueGreenTick() Plan {
	ps.t.Helper()
	plan := ps.checkedTick(ps.t, ps.fail, false, false)
	replicas := *ps.ro.Spec.Replicas
	for service, hash := range ps.selectors {
		for _, rs := range ps.rss {
			if rs.Labels[stepwisev1alpha1.PodTemplateHashLabel] == hash && service == ps.ro.Spec.Strategy.BlueGreen.ActiveService && rs.Status.AvailableReplicas < replicas {
				ps.fail("Service %s selects %s with %d < %d available pods", service, rs.Name, rs.Status.AvailableReplicas, replicas)
			}
		}
	}
	return plan
}

func blueGreenRollout(autoPromotionSeconds *int32) *stepwisev1alpha1.Rollout {
	ro := rollout(3, i1, i1, "v1")
	ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.BlueGreenRolloutStrategyType,
		BlueGreen: &stepwisev1alpha1.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview",
			AutoPromotionSeconds: autoPromotionSeconds, ScaleDownDelaySeconds: ptr.To[int32](30)}}
	return ro
}

func (ps *progressiveSim) hashOf(image string) string {
	for _, rs := range ps.rss {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs.Labels[stepwisev1alpha1.PodTemplateHashLabel]
		}
	}
	return ""
}

// Blue-green: v2 runs at full size behind the preview Service and waits; promotion switches
// the active Service; v1 stays up for the scale-down delay, and an undo inside it switches
// straight back without waiting for a promotion.
func TestBlueGreenPromoteAndSwitchBack(t *testing.T) {
	g := NewWithT(t)
	ps := newProgressiveSim(t, blueGreenRollout(nil), 1, 1, 1)
	g.Expect(ps.selectors).To(Equal(map[string]string{"active": ps.hashOf("v1"), "preview": ps.hashOf("v1")}), "the first revision is active at once")

	ps.setImage("v2")
	ps.until("the pause before the switch", ps.pausedFor(stepwisev1alpha1.ReasonAwaitingPromotion))
	g.Expect(ps.sizes()).To(Equal("v1=3 v2=3"))
	g.Expect(ps.selectors).To(Equal(map[string]string{"active": ps.hashOf("v1"), "preview": ps.hashOf("v2")}))
	for range 20 {
		g.Expect(ps.tick().Services).To(BeEmpty(), "nothing switches until promoted")
	}

	ps.promote()
	ps.tick()
	g.Expect(ps.selectors["active"]).To(Equal(ps.hashOf("v2")))
	g.Expect(ps.ro.Status.BlueGreen.PreviousActiveHash).To(Equal(ps.hashOf("v1")))
	g.Expect(ps.sizes()).To(Equal("v1=3 v2=3"), "v1 stays up for the scale-down delay")

	ps.setImage("v1") // undo inside the window
	plan := ps.tick()
	g.Expect(plan.Services).To(ConsistOf(ServiceSwitch{Service: "preview", From: ps.hashOf("v2"), To: ps.hashOf("v1")},
		ServiceSwitch{Service: "active", From: ps.hashOf("v2"), To: ps.hashOf("v1")}), "an instant switch back")
	g.Expect(plan.Hold).To(BeNil())
	switchedBack := ps.sim.tick
	ps.until("v2 scaled down", func() bool { return ps.sizes() == "v1=3 v2=0" })
	g.Expect(ps.sim.tick - switchedBack).To(BeNumerically(">=", 30))
	ps.until("v1 complete", ps.converged)
}

// autoPromotionSeconds switches by itself once the new revision has been fully available that
// long; outside the scale-down window an old revision needs a promotion again.
func TestBlueGreenAutoPromotion(t *testing.T) {
	g := NewWithT(t)
	ps := newProgressiveSim(t, blueGreenRollout(ptr.To[int32](5)), 2, 1, 0.8)
	ps.setImage("v2")
	ps.until("the pause before the switch", ps.pausedFor(stepwisev1alpha1.ReasonAwaitingPromotion))
	paused := ps.sim.tick
	g.Expect(meta.FindStatusCondition(ps.ro.Status.Conditions, stepwisev1alpha1.ConditionPaused).Message).To(ContainSubstring("promoting by itself after 5s"))
	ps.until("the switch", func() bool { return ps.selectors["active"] == ps.hashOf("v2") })
	g.Expect(ps.sim.tick - paused).To(BeNumerically(">=", 5))
	ps.until("v2 complete", ps.converged)
	g.Expect(ps.sizes()).To(Equal("v1=0 v2=3"))
}
