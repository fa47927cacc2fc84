package planner

import (
	"fmt"
	"math/rand/v2"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// progressiveSim is a simulated cluster running ro's first revision, drawing from the random
// stream the progressive tests use.
func progressiveSim(t *testing.T, ro *stepwisev1alpha1.Rollout, seed uint64, readyDelay int, syncChance float64) *sim {
	t.Helper()
	return newSim(t, fmt.Sprintf("seed %d", seed), ro, rand.New(rand.NewPCG(seed, 7)), readyDelay, syncChance)
}

// canaryRollout is 10 replicas of v1 whose next revision goes to 1 pod and pauses until
// promoted, to 50% and pauses 30 s, then to 80% without a pause, then to everyone.
func canaryRollout() *stepwisev1alpha1.Rollout {
	return testutil.Rollout("web").Replicas(10).Surge("25%").Unavailable("25%").Image("v1").Steps(
		stepwisev1alpha1.CanaryStep{Replicas: ptr.To(intstr.FromInt32(1)), Pause: &stepwisev1alpha1.CanaryPause{}},
		stepwisev1alpha1.CanaryStep{Replicas: ptr.To(intstr.FromString("50%")), Pause: &stepwisev1alpha1.CanaryPause{DurationSeconds: ptr.To[int32](30)}},
		stepwisev1alpha1.CanaryStep{Replicas: ptr.To(intstr.FromString("80%"))},
	).Obj()
}

// A canary's steps pause, a promotion moves on, a timed pause ends by itself.
func TestCanaryStepsPauseThenPromote(t *testing.T) {
	g := NewWithT(t)
	s := progressiveSim(t, canaryRollout(), 1, 1, 1)
	g.Expect(s.ro.Status.Canary.CurrentStep).To(Equal(int32(3)), "the first revision skips the steps")

	s.setImage("v2")
	s.until("pause at step 1", s.pausedFor(stepwisev1alpha1.ReasonCanaryPauseStep))
	g.Expect(s.sizes()).To(Equal("v1=9 v2=1"))
	g.Expect(s.ro.Status.Canary.CurrentStep).To(BeZero())
	g.Expect(s.ro.Status.Canary.PodTemplateHash).To(Equal(revision.ComputeHash(&s.ro.Spec.Template, nil)))
	cond := meta.FindStatusCondition(s.ro.Status.Conditions, stepwisev1alpha1.ConditionPaused)
	g.Expect(cond.Message).To(Equal("Paused at step 1 of 3 (1 of 10 pods on the new revision), waiting for promotion"))
	for range 20 {
		g.Expect(s.step().Scale).To(BeEmpty(), "nothing moves while paused")
	}
	g.Expect(meta.FindStatusCondition(s.ro.Status.Conditions, stepwisev1alpha1.ConditionProgressing).Reason).To(Equal(stepwisev1alpha1.ReasonRolloutPaused))

	s.promote()
	s.until("pause at step 2", func() bool { return s.paused() != nil && s.ro.Status.Canary.CurrentStep == 1 })
	g.Expect(s.sizes()).To(Equal("v1=5 v2=5"))
	pausedAt := s.tick
	plan := s.step()
	g.Expect(plan.RequeueAfter).To(BeNumerically(">", 0))
	g.Expect(plan.RequeueAfter).To(BeNumerically("<=", 30e9))
	s.until("the timed pause to end", func() bool { return s.paused() == nil })
	g.Expect(s.tick - pausedAt).To(BeNumerically(">=", 30))
	s.until("v2 rolled out", s.converged)
	g.Expect(s.sizes()).To(Equal("v1=0 v2=10"))
	g.Expect(s.ro.Status.Canary.CurrentStep).To(Equal(int32(3)))
	g.Expect(s.ro.Status.Conditions).NotTo(ContainElement(HaveField("Type", stepwisev1alpha1.ConditionPaused)))
}

// A partition keeps that many pods on the old revision; lowering it finishes the rollout,
// raising it again hands pods back to the previous revision.
func TestPartitionKeepsPodsOnOldRevisions(t *testing.T) {
	g := NewWithT(t)
	ro := testutil.Rollout("web").Replicas(10).Surge("25%").Unavailable("25%").Image("v1").Partition("25%").Obj() // 2.5 → 3
	s := progressiveSim(t, ro, 2, 1, 0.7)
	g.Expect(s.sizes()).To(Equal("v1=10"), "the first revision gets every pod")

	s.setImage("v2")
	s.until("the partition", s.pausedFor(stepwisev1alpha1.ReasonPartitionReached))
	g.Expect(s.sizes()).To(Equal("v1=3 v2=7"))
	g.Expect(meta.FindStatusCondition(s.ro.Status.Conditions, stepwisev1alpha1.ConditionComplete).Status).To(BeEquivalentTo("False"))

	s.setPartition("")
	s.until("v2 rolled out", s.converged)

	s.setPartition("2")
	s.until("the raised partition", s.pausedFor(stepwisev1alpha1.ReasonPartitionReached))
	g.Expect(s.sizes()).To(Equal("v1=2 v2=8"))
}

// Abort hands every pod back to the stable revision within the bounds; retry starts over.
// It works for a rolling update without steps too (the plugin records the state).
func TestAbortAndRetry(t *testing.T) {
	for _, withSteps := range []bool{true, false} {
		t.Run(fmt.Sprintf("steps %v", withSteps), func(t *testing.T) {
			g := NewWithT(t)
			ro := testutil.Rollout("web").Replicas(10).Surge("25%").Unavailable("25%").Image("v1")
			if withSteps {
				ro.Steps(stepwisev1alpha1.CanaryStep{Replicas: ptr.To(intstr.FromString("50%")), Pause: &stepwisev1alpha1.CanaryPause{}})
			}
			s := progressiveSim(t, ro.Obj(), 3, 1, 0.8)
			s.neverReady["v2"] = true
			s.setImage("v2")
			s.until("v2 pods", func() bool { return s.rss[len(s.rss)-1].Status.Replicas >= 2 })

			s.abort()
			s.until("the abort to finish", func() bool { return s.sizes() == "v1=10 v2=0" && s.rss[0].Status.AvailableReplicas == 10 })
			g.Expect(s.pausedFor(stepwisev1alpha1.ReasonRolloutAborted)()).To(BeTrue())
			for range 10 {
				g.Expect(s.step().Scale).To(BeEmpty(), "an aborted rollout holds")
			}

			s.retry()
			s.neverReady["v2"] = false
			if withSteps {
				s.until("pause at step 1", s.pausedFor(stepwisev1alpha1.ReasonCanaryPauseStep))
				g.Expect(s.sizes()).To(Equal("v1=5 v2=5"))
				s.promote()
			}
			s.until("v2 rolled out", s.converged)
		})
	}
}

// The property test of progressive rollouts: random sizes, bounds, steps, partitions, a
// lagging ReplicaSet controller, promotions, aborts and retries at random moments; every tick
// keeps the bounds, the new ReplicaSet never outgrows its step, and the rollout finishes.
func TestRandomProgressiveRolloutsKeepBounds(t *testing.T) {
	bounds := []string{"1", "2", "25%", "50%", "10%"}
	counts := []string{"0", "1", "3", "25%", "50%", "100%", "40"}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 3))
		ro := testutil.Rollout("web").Replicas(rng.Int32N(21)).Surge(bounds[rng.IntN(len(bounds))]).Unavailable(bounds[rng.IntN(len(bounds))]).Image("v1")
		var steps []stepwisev1alpha1.CanaryStep
		for range rng.IntN(4) {
			step := stepwisev1alpha1.CanaryStep{Replicas: ptr.To(intstr.Parse(counts[rng.IntN(len(counts))]))}
			switch rng.IntN(3) {
			case 1:
				step.Pause = &stepwisev1alpha1.CanaryPause{}
			case 2:
				step.Pause = &stepwisev1alpha1.CanaryPause{DurationSeconds: ptr.To(rng.Int32N(5))}
			}
			steps = append(steps, step)
		}
		ro.Steps(steps...)
		if rng.IntN(2) == 0 {
			ro.Partition(counts[rng.IntN(len(counts))])
		}
		s := progressiveSim(t, ro.Obj(), seed, rng.IntN(3), 0.5+rng.Float64()/2)
		ru := s.ro.Spec.Strategy.RollingUpdate
		s.setImage("v2")
		aborted := false
		for tick := 0; !s.converged(); tick++ {
			plan := s.step()
			switch {
			case tick > 600:
				s.fail("did not converge: %s, steps %v, partition %v, hold %+v, canary %+v", s.sizes(), ru.Steps, ru.Partition, plan.Hold, s.ro.Status.Canary)
			case tick == 40 && ru.Partition != nil:
				s.setPartition("")
			case aborted && plan.Hold != nil && rng.IntN(3) == 0:
				s.retry()
				aborted = false
			case !aborted && tick < 100 && rng.IntN(40) == 0:
				s.abort()
				aborted = true
			case plan.Hold != nil && plan.Hold.Reason == stepwisev1alpha1.ReasonCanaryPauseStep && rng.IntN(3) == 0:
				s.promote()
			}
		}
	}
}
