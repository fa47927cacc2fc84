package planner

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// blueGreenRollout is 3 replicas of v1 behind the Services active and preview, keeping the
// previous revision up 30 s after a switch.
func blueGreenRollout(autoPromotionSeconds *int32) *stepwisev1alpha1.Rollout {
	return testutil.Rollout("web").Replicas(3).Image("v1").BlueGreen(stepwisev1alpha1.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview",
		AutoPromotionSeconds: autoPromotionSeconds, ScaleDownDelaySeconds: ptr.To[int32](30)}).Obj()
}

// Blue-green: v2 runs at full size behind the preview Service and waits; promotion switches
// the active Service; v1 stays up for the scale-down delay, and an undo inside it switches
// straight back without waiting for a promotion.
func TestBlueGreenPromoteAndSwitchBack(t *testing.T) {
	g := NewWithT(t)
	s := progressiveSim(t, blueGreenRollout(nil), 1, 1, 1)
	g.Expect(s.selectors).To(Equal(map[string]string{"active": s.hashOf("v1"), "preview": s.hashOf("v1")}), "the first revision is active at once")

	s.setImage("v2")
	s.until("the pause before the switch", s.pausedFor(stepwisev1alpha1.ReasonAwaitingPromotion))
	g.Expect(s.sizes()).To(Equal("v1=3 v2=3"))
	g.Expect(s.selectors).To(Equal(map[string]string{"active": s.hashOf("v1"), "preview": s.hashOf("v2")}))
	for range 20 {
		g.Expect(s.step().Services).To(BeEmpty(), "nothing switches until promoted")
	}

	s.promote()
	s.step()
	g.Expect(s.selectors["active"]).To(Equal(s.hashOf("v2")))
	g.Expect(s.ro.Status.BlueGreen.PreviousActiveHash).To(Equal(s.hashOf("v1")))
	g.Expect(s.sizes()).To(Equal("v1=3 v2=3"), "v1 stays up for the scale-down delay")

	s.setImage("v1") // undo inside the window
	plan := s.step()
	g.Expect(plan.Services).To(ConsistOf(ServiceSwitch{Service: "preview", From: s.hashOf("v2"), To: s.hashOf("v1")},
		ServiceSwitch{Service: "active", From: s.hashOf("v2"), To: s.hashOf("v1")}), "an instant switch back")
	g.Expect(plan.Hold).To(BeNil())
	switchedBack := s.tick
	s.until("v2 scaled down", func() bool { return s.sizes() == "v1=3 v2=0" })
	g.Expect(s.tick - switchedBack).To(BeNumerically(">=", 30))
	s.until("v1 complete", s.converged)
}

// autoPromotionSeconds switches by itself once the new revision has been fully available that
// long; outside the scale-down window an old revision needs a promotion again.
func TestBlueGreenAutoPromotion(t *testing.T) {
	g := NewWithT(t)
	s := progressiveSim(t, blueGreenRollout(ptr.To[int32](5)), 2, 1, 0.8)
	s.setImage("v2")
	s.until("the pause before the switch", s.pausedFor(stepwisev1alpha1.ReasonAwaitingPromotion))
	paused := s.tick
	g.Expect(meta.FindStatusCondition(s.ro.Status.Conditions, stepwisev1alpha1.ConditionPaused).Message).To(ContainSubstring("promoting by itself after 5s"))
	s.until("the switch", func() bool { return s.selectors["active"] == s.hashOf("v2") })
	g.Expect(s.tick - paused).To(BeNumerically(">=", 5))
	s.until("v2 complete", s.converged)
	g.Expect(s.sizes()).To(Equal("v1=0 v2=3"))
}
