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
)

// progressiveSim is a simulated cluster running a stable v1 of ro, ready to roll out v2.
type progressiveSim struct {
	*sim
	t    *testing.T
	fail func(string, ...any)
}

func newProgressiveSim(t *testing.T, ro *stepwisev1alpha1.Rollout, seed uint64, readyDelay int, syncChance float64) *progressiveSim {
	t.Helper()
	s := &sim{rng: rand.New(rand.NewPCG(seed, 7)), ro: ro, pods: map[string][]simPod{}, readyDelay: readyDelay, syncChance: syncChance, neverReady: map[string]bool{}}
	ps := &progressiveSim{sim: s, t: t}
	ps.fail = func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d, tick %d: %s\n%s", seed, s.tick, fmt.Sprintf(format, args...), joinLines(s.log))
	}
	// The first revision starts from no pods: no bounds to keep yet. (With no ReplicaSet at
	// all, converged is trivially true: reconcile at least once.)
	for len(s.rss) == 0 || !s.converged() {
		if s.tick > 100 {
			ps.fail("v1 did not roll out: %s %+v", ps.sizes(), ro.Spec.Strategy.RollingUpdate)
		}
		s.reconcile(t)
		s.runReplicaSetController()
	}
	s.reconcile(t)
	return ps
}

// tick reconciles once, checking the bounds, and that the new ReplicaSet never grows past the
// plan's target (the current canary step or the partition).
func (ps *progressiveSim) tick() Plan {
	ps.t.Helper()
	if ps.ro.Spec.Strategy.Type == stepwisev1alpha1.BlueGreenRolloutStrategyType {
		return ps.blueGreenTick()
	}
	plan := ps.checkedTick(ps.t, ps.fail, true, true)
	if c := plan.CreateNew; c != nil && *c.Spec.Replicas > plan.Target {
		ps.fail("created the new ReplicaSet with %d > target %d", *c.Spec.Replicas, plan.Target)
	}
	for _, step := range plan.Scale {
		if plan.NewRS != nil && step.ReplicaSet == plan.NewRS.Name && step.To > step.From && step.To > plan.Target {
			ps.fail("scaled the new ReplicaSet up to %d > target %d", step.To, plan.Target)
		}
	}
	return plan
}

// until ticks until done holds (checked after each tick), at most 300 ticks.
func (ps *progressiveSim) until(what string, done func() bool) {
	ps.t.Helper()
	for range 300 {
		ps.tick()
		if done() {
			return
		}
	}
	ps.fail("no %s in 300 ticks", what)
}

func (ps *progressiveSim) setImage(image string) {
	ps.ro.Spec.Template.Spec.Containers[0].Image = image
	ps.ro.Generation++
}

// sizes are the desired replicas per image, e.g. "v1=9 v2=1".
func (ps *progressiveSim) sizes() string {
	out := ""
	for _, rs := range ps.rss {
		out += fmt.Sprintf("%s=%d ", rs.Spec.Template.Spec.Containers[0].Image, *rs.Spec.Replicas)
	}
	return out[:max(0, len(out)-1)]
}

func (ps *progressiveSim) paused() *stepwisev1alpha1.CanaryStatus {
	if cond := meta.FindStatusCondition(ps.ro.Status.Conditions, stepwisev1alpha1.ConditionPaused); cond == nil {
		return nil
	}
	return ps.ro.Status.Canary
}

func (ps *progressiveSim) pausedFor(reason string) func() bool {
	return func() bool {
		cond := meta.FindStatusCondition(ps.ro.Status.Conditions, stepwisev1alpha1.ConditionPaused)
		return cond != nil && cond.Reason == reason
	}
}

// promote does what kubectl stepwise promote does.
func (ps *progressiveSim) promote() {
	ps.ro.Status.Canary.CurrentStep++
	ps.ro.Status.Canary.PauseStartTime = nil
}

var p50 = intstr.FromString("50%")

// A canary of 10 replicas: 1 pod and a pause until promoted, 50% and a 30 s pause, then 80%
// without a pause, then everyone.
func TestCanaryStepsPauseThenPromote(t *testing.T) {
	g := NewWithT(t)
	ro := rollout(10, p25, p25, "v1")
	ro.Spec.Strategy.RollingUpdate.Steps = []stepwisev1alpha1.CanaryStep{
		{Replicas: i1, Pause: &stepwisev1alpha1.CanaryPause{}},
		{Replicas: p50, Pause: &stepwisev1alpha1.CanaryPause{DurationSeconds: ptr.To[int32](30)}},
		{Replicas: intstr.FromString("80%")},
	}
	ps := newProgressiveSim(t, ro, 1, 1, 1)
	g.Expect(ps.ro.Status.Canary.CurrentStep).To(Equal(int32(3)), "the first revision skips the steps")

	ps.setImage("v2")
	ps.until("pause at step 1", ps.pausedFor(stepwisev1alpha1.ReasonCanaryPauseStep))
	g.Expect(ps.sizes()).To(Equal("v1=9 v2=1"))
	g.Expect(ps.ro.Status.Canary.CurrentStep).To(BeZero())
	g.Expect(ps.ro.Status.Canary.PodTemplateHash).To(Equal(revision.ComputeHash(&ps.ro.Spec.Template, nil)))
	cond := meta.FindStatusCondition(ps.ro.Status.Conditions, stepwisev1alpha1.ConditionPaused)
	g.Expect(cond.Message).To(Equal("Paused at step 1 of 3 (1 of 10 pods on the new revision), waiting for promotion"))
	for range 20 {
		g.Expect(ps.tick().Scale).To(BeEmpty(), "nothing moves while paused")
	}
	g.Expect(meta.FindStatusCondition(ps.ro.Status.Conditions, stepwisev1alpha1.ConditionProgressing).Reason).To(Equal(stepwisev1alpha1.ReasonRolloutPaused))

	ps.promote()
	ps.until("pause at step 2", func() bool { return ps.paused() != nil && ps.ro.Status.Canary.CurrentStep == 1 })
	g.Expect(ps.sizes()).To(Equal("v1=5 v2=5"))
	pausedAt := ps.sim.tick
	plan := ps.tick()
	g.Expect(plan.RequeueAfter).To(BeNumerically(">", 0))
	g.Expect(plan.RequeueAfter).To(BeNumerically("<=", 30e9))
	ps.until("the timed pause to end", func() bool { return ps.paused() == nil })
	g.Expect(ps.sim.tick - pausedAt).To(BeNumerically(">=", 30))
	ps.until("v2 rolled out", ps.converged)
	g.Expect(ps.sizes()).To(Equal("v1=0 v2=10"))
	g.Expect(ps.ro.Status.Canary.CurrentStep).To(Equal(int32(3)))
	g.Expect(ps.ro.Status.Conditions).NotTo(ContainElement(HaveField("Type", stepwisev1alpha1.ConditionPaused)))
}

// A partition keeps that many pods on the old revision; lowering it finishes the rollout,
// raising it again hands pods back to the previous revision.
func TestPartitionKeepsPodsOnOldRevisions(t *testing.T) {
	g := NewWithT(t)
	ro := rollout(10, p25, p25, "v1")
	ro.Spec.Strategy.RollingUpdate.Partition = ptr.To(intstr.FromString("25%")) // 2.5 → 3
	ps := newProgressiveSim(t, ro, 2, 1, 0.7)
	g.Expect(ps.sizes()).To(Equal("v1=10"), "the first revision gets every pod")

	ps.setImage("v2")
	ps.until("the partition", ps.pausedFor(stepwisev1alpha1.ReasonPartitionReached))
	g.Expect(ps.sizes()).To(Equal("v1=3 v2=7"))
	g.Expect(meta.FindStatusCondition(ps.ro.Status.Conditions, stepwisev1alpha1.ConditionComplete).Status).To(BeEquivalentTo("False"))

	ps.ro.Spec.Strategy.RollingUpdate.Partition = nil
	ps.ro.Generation++
	ps.until("v2 rolled out", ps.converged)

	ps.ro.Spec.Strategy.RollingUpdate.Partition = ptr.To(intstr.FromInt32(2))
	ps.ro.Generation++
	ps.until("the raised partition", ps.pausedFor(stepwisev1alpha1.ReasonPartitionReached))
	g.Expect(ps.sizes()).To(Equal("v1=2 v2=8"))
}

// Abort hands every pod back to the stable revision within the bounds; retry starts over.
// It works for a rolling update without steps too (the plugin records the state).
func TestAbortAndRetry(t *testing.T) {
	for _, withSteps := range []bool{true, false} {
		t.Run(fmt.Sprintf("steps %v", withSteps), func(t *testing.T) {
			g := NewWithT(t)
			ro := rollout(10, p25, p25, "v1")
			if withSteps {
				ro.Spec.Strategy.RollingUpdate.Steps = []stepwisev1alpha1.CanaryStep{{Replicas: p50, Pause: &stepwisev1alpha1.CanaryPause{}}}
			}
			ps := newProgressiveSim(t, ro, 3, 1, 0.8)
			ps.neverReady["v2"] = true
			ps.setImage("v2")
			ps.until("v2 pods", func() bool { return ps.rss[len(ps.rss)-1].Status.Replicas >= 2 })

			if ps.ro.Status.Canary == nil {
				ps.ro.Status.Canary = &stepwisev1alpha1.CanaryStatus{PodTemplateHash: revision.ComputeHash(&ps.ro.Spec.Template, nil)}
			}
			ps.ro.Status.Canary.Aborted = true
			ps.until("the abort to finish", func() bool { return ps.sizes() == "v1=10 v2=0" && ps.rss[0].Status.AvailableReplicas == 10 })
			g.Expect(ps.pausedFor(stepwisev1alpha1.ReasonRolloutAborted)()).To(BeTrue())
			for range 10 {
				g.Expect(ps.tick().Scale).To(BeEmpty(), "an aborted rollout holds")
			}

			ps.ro.Status.Canary.Aborted, ps.ro.Status.Canary.CurrentStep = false, 0 // retry
			ps.neverReady["v2"] = false
			if withSteps {
				ps.until("pause at step 1", ps.pausedFor(stepwisev1alpha1.ReasonCanaryPauseStep))
				g.Expect(ps.sizes()).To(Equal("v1=5 v2=5"))
				ps.promote()
			}
			ps.until("v2 rolled out", ps.converged)
		})
	}
}

// The property test of progressive rollouts: random sizes, bounds, steps, partitions, a
// lagging ReplicaSet controller, promotions, aborts and retries at random moments; every tick
// keeps the bounds, the new ReplicaSet never outgrows its step, and the rollout finishes.
func TestRandomProgressiveRolloutsKeepBounds(t *testing.T) {
	bounds := []intstr.IntOrString{i1, i2, p25, p50, intstr.FromString("10%")}
	counts := []intstr.IntOrString{i0, i1, i3, p25, p50, intstr.FromString("100%"), intstr.FromInt32(40)}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 3))
		ro := rollout(rng.Int32N(21), bounds[rng.IntN(len(bounds))], bounds[rng.IntN(len(bounds))], "v1")
		ru := ro.Spec.Strategy.RollingUpdate
		for range rng.IntN(4) {
			step := stepwisev1alpha1.CanaryStep{Replicas: counts[rng.IntN(len(counts))]}
			switch rng.IntN(3) {
			case 1:
				step.Pause = &stepwisev1alpha1.CanaryPause{}
			case 2:
				step.Pause = &stepwisev1alpha1.CanaryPause{DurationSeconds: ptr.To(rng.Int32N(5))}
			}
			ru.Steps = append(ru.Steps, step)
		}
		if rng.IntN(2) == 0 {
			ru.Partition = ptr.To(counts[rng.IntN(len(counts))])
		}
		ps := newProgressiveSim(t, ro, seed, rng.IntN(3), 0.5+rng.Float64()/2)
		ps.setImage("v2")
		aborted := false
		for tick := 0; !ps.converged(); tick++ {
			plan := ps.tick()
			switch {
			case tick > 600:
				ps.fail("did not converge: %s, steps %v, partition %v, hold %+v, canary %+v", ps.sizes(), ru.Steps, ru.Partition, plan.Hold, ps.ro.Status.Canary)
			case tick == 40 && ru.Partition != nil:
				ru.Partition = nil
				ps.ro.Generation++
			case aborted && plan.Hold != nil && rng.IntN(3) == 0:
				ps.ro.Status.Canary.Aborted, ps.ro.Status.Canary.CurrentStep = false, 0
				aborted = false
			case !aborted && tick < 100 && rng.IntN(40) == 0:
				if ps.ro.Status.Canary == nil {
					ps.ro.Status.Canary = &stepwisev1alpha1.CanaryStatus{PodTemplateHash: revision.ComputeHash(&ps.ro.Spec.Template, nil)}
				}
				ps.ro.Status.Canary.Aborted = true
				aborted = true
			case plan.Hold != nil && plan.Hold.Reason == stepwisev1alpha1.ReasonCanaryPauseStep && rng.IntN(3) == 0:
				ps.promote()
			}
		}
	}
}
