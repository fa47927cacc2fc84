package planner

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// simPod is a pod of the simulated cluster: it becomes available at readyAt (never if -1).
type simPod struct{ readyAt int }

// sim is a tiny cluster: ReplicaSets, their pods, and a ReplicaSet controller that may lag
// behind (it syncs each ReplicaSet with probability syncChance per tick), creates pods that
// become ready after readyDelay ticks, and deletes unready pods before ready ones, as the real
// one does.
type sim struct {
	rng        *rand.Rand
	ro         *stepwisev1alpha1.Rollout
	rss        []*appsv1.ReplicaSet
	pods       map[string][]simPod
	tick       int
	readyDelay int
	syncChance float64
	neverReady map[string]bool // images whose pods never become ready
	log        []string
	selectors  map[string]string // Service name → the pod-template-hash it selects
}

func (s *sim) snapshot() Snapshot {
	snap := Snapshot{Rollout: s.ro.DeepCopy(), Now: epoch.Add(time.Duration(s.tick) * time.Second)}
	if bg := s.ro.Spec.Strategy.BlueGreen; bg != nil {
		snap.ActiveHash, snap.PreviewHash = s.selectors[bg.ActiveService], s.selectors[bg.PreviewService]
	}
	for _, rs := range s.rss {
		if snap.New == nil && revision.EqualIgnoreHash(&s.ro.Spec.Template, &rs.Spec.Template) {
			snap.New = rs.DeepCopy()
			continue
		}
		snap.Old = append(snap.Old, rs.DeepCopy())
	}
	return snap
}

// reconcile plans once and applies the plan, as the reconciler does.
func (s *sim) reconcile(t *testing.T) Plan {
	t.Helper()
	snap := s.snapshot()
	plan, err := For(snap)
	if err != nil {
		t.Fatalf("tick %d: %v", s.tick, err)
	}
	if plan.CreateNew != nil {
		rs := plan.CreateNew.DeepCopy()
		rs.CreationTimestamp = metav1.NewTime(snap.Now)
		rs.Generation = 1
		s.rss = append(s.rss, rs)
		s.log = append(s.log, fmt.Sprintf("t%d create %s=%d", s.tick, rs.Name, *rs.Spec.Replicas))
	}
	for _, step := range plan.Scale {
		rs := s.find(step.ReplicaSet)
		*rs.Spec.Replicas = step.To
		rs.Generation++
		setSizeAnnotations(rs, step.DesiredReplicas, step.MaxReplicas)
		s.log = append(s.log, fmt.Sprintf("t%d scale %s %d→%d (%s)", s.tick, step.ReplicaSet, step.From, step.To, step.Reason))
	}
	if plan.UpdateNew != nil {
		rs := s.find(plan.UpdateNew.Name)
		rs.Annotations = plan.UpdateNew.Annotations
	}
	for _, sw := range plan.Services {
		if s.selectors == nil {
			s.selectors = map[string]string{}
		}
		s.selectors[sw.Service] = sw.To
		s.log = append(s.log, fmt.Sprintf("t%d service %s → %s", s.tick, sw.Service, sw.To))
	}
	for _, d := range plan.Delete {
		s.rss = slices.DeleteFunc(s.rss, func(rs *appsv1.ReplicaSet) bool { return rs.Name == d.Name })
	}
	s.ro.Status = status.Compute(plan.StatusInput(s.ro, plan.CreateNew != nil, snap.Now))
	return plan
}

func (s *sim) find(name string) *appsv1.ReplicaSet {
	for _, rs := range s.rss {
		if rs.Name == name {
			return rs
		}
	}
	panic("no ReplicaSet " + name)
}

// runReplicaSetController advances the simulated ReplicaSet controller and kubelet one tick.
func (s *sim) runReplicaSetController() {
	s.tick++
	for _, rs := range s.rss {
		if s.rng.Float64() < s.syncChance {
			pods := s.pods[rs.Name]
			for int32(len(pods)) < *rs.Spec.Replicas {
				readyAt := s.tick + s.readyDelay
				if s.neverReady[rs.Spec.Template.Spec.Containers[0].Image] {
					readyAt = -1
				}
				pods = append(pods, simPod{readyAt: readyAt})
			}
			// Unready pods are deleted first: ready ones sort to the front and are kept.
			slices.SortStableFunc(pods, func(a, b simPod) int { return boolInt(s.ready(b)) - boolInt(s.ready(a)) })
			if int32(len(pods)) > *rs.Spec.Replicas {
				pods = pods[:*rs.Spec.Replicas]
			}
			s.pods[rs.Name] = pods
			rs.Status.ObservedGeneration = rs.Generation
		}
		ready := int32(0)
		for _, p := range s.pods[rs.Name] {
			if s.ready(p) {
				ready++
			}
		}
		rs.Status.Replicas = int32(len(s.pods[rs.Name]))
		rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = ready, ready
		rs.Status.TerminatingReplicas = ptr.To[int32](0)
	}
}

func (s *sim) ready(p simPod) bool { return p.readyAt >= 0 && p.readyAt <= s.tick }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// totals are the desired (spec) and available pods over all ReplicaSets.
func (s *sim) totals() (spec, available int32) {
	for _, rs := range s.rss {
		spec += *rs.Spec.Replicas
		available += rs.Status.AvailableReplicas
	}
	return spec, available
}

func (s *sim) converged() bool {
	params, _ := Resolve(s.ro)
	for _, rs := range s.rss {
		isNew := revision.EqualIgnoreHash(&s.ro.Spec.Template, &rs.Spec.Template)
		switch {
		case isNew && (*rs.Spec.Replicas != params.Replicas || rs.Status.AvailableReplicas != params.Replicas):
			return false
		case !isNew && (*rs.Spec.Replicas != 0 || rs.Status.Replicas != 0):
			return false
		}
	}
	return true
}

// scenario is one randomized rollout: a stable v1, then v2 (maybe never ready, then fixed to v3),
// maybe a resize in the middle.
type scenario struct {
	replicas, resizeTo    int32
	surge, unavailable    intstr.IntOrString
	recreate              bool
	readyDelay            int
	syncChance            float64
	badVersion, resizeMid bool
}

func randomScenario(rng *rand.Rand) scenario {
	bounds := []intstr.IntOrString{i0, i1, i2, i3, p0, p25, intstr.FromString("50%"), p100, intstr.FromString("10%")}
	sc := scenario{
		replicas:    rng.Int32N(26),
		surge:       bounds[rng.IntN(len(bounds))],
		unavailable: bounds[rng.IntN(len(bounds))],
		recreate:    rng.IntN(5) == 0,
		readyDelay:  rng.IntN(4),
		syncChance:  0.5 + rng.Float64()/2,
		badVersion:  rng.IntN(4) == 0,
		resizeMid:   rng.IntN(4) == 0,
		resizeTo:    rng.Int32N(26),
	}
	if s, _ := scaledValue(&sc.surge, 100, true, ""); s == 0 {
		if u, _ := scaledValue(&sc.unavailable, 100, false, ""); u == 0 {
			sc.unavailable = p25 // both zero is rejected as invalid; covered elsewhere
		}
	}
	return sc
}

// run plays a scenario and checks the bounds on every observed state.
func (sc scenario) run(t *testing.T, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	ro := rollout(sc.replicas, sc.surge, sc.unavailable, "v1")
	if sc.recreate {
		ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.RecreateRolloutStrategyType}
	}
	s := &sim{rng: rng, ro: ro, pods: map[string][]simPod{}, readyDelay: sc.readyDelay, syncChance: sc.syncChance, neverReady: map[string]bool{"v2": true}}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d, %+v, tick %d: %s\n%s", seed, sc, s.tick, fmt.Sprintf(format, args...), joinLines(s.log))
	}
	settle := func(limit int) {
		t.Helper()
		for range limit {
			s.reconcile(t)
			s.runReplicaSetController()
			if s.converged() {
				s.reconcile(t) // one more: status catches up, history is pruned
				return
			}
		}
		fail("did not converge in %d ticks", limit)
	}
	settle(200)

	image := "v3"
	if sc.badVersion {
		image = "v2"
	}
	s.ro.Spec.Template.Spec.Containers[0].Image = image
	s.ro.Generation++
	resized := false
	for tick := 0; ; tick++ {
		s.checkedTick(t, fail, !resized, !sc.recreate)
		if sc.resizeMid && !resized && tick == 3 {
			s.ro.Spec.Replicas = ptr.To(sc.resizeTo)
			s.ro.Generation++
			resized = true
		}
		if tick == 30 && image == "v2" {
			// The bad version never completes; fixing the template must resume the rollout.
			image = "v3"
			s.ro.Spec.Template.Spec.Containers[0].Image = image
			s.ro.Generation++
		}
		if image == "v3" && s.converged() {
			return
		}
		if tick > 400 {
			fail("did not converge in 400 ticks")
		}
	}
}

// checkedTick reconciles once, runs the ReplicaSet controller once, and checks the bounds on
// the plan and on both states: the desired pods within replicas + maxSurge and one ReplicaSet
// per template (unless the size just changed: strict is false), the available pods at or above
// replicas - maxUnavailable (for a rolling update: rolling).
func (s *sim) checkedTick(t *testing.T, fail func(string, ...any), strict, rolling bool) Plan {
	t.Helper()
	params, _ := Resolve(s.ro)
	before := s.snapshot()
	plan := s.reconcile(t)
	specTotal, available := s.totals()
	if strict && plan.RollsForward && specTotal > params.Replicas+params.MaxSurge && len(plan.Scale)+boolInt(plan.CreateNew != nil) > 0 {
		fail("%d desired pods > %d replicas + %d maxSurge", specTotal, params.Replicas, params.MaxSurge)
	}
	if strict && rolling && available < params.Replicas-params.MaxUnavailable {
		fail("%d available < %d replicas - %d maxUnavailable", available, params.Replicas, params.MaxUnavailable)
	}
	newRSs := 0
	for _, rs := range s.rss {
		if revision.EqualIgnoreHash(&s.ro.Spec.Template, &rs.Spec.Template) {
			newRSs++
		}
	}
	if newRSs > 1 {
		fail("%d ReplicaSets for one template", newRSs)
	}
	checkPlanKeepsBounds(t, before, plan, fail)
	s.runReplicaSetController()
	// Pods that exist, not just desired, stay within bounds while rolling.
	if _, available := s.totals(); strict && rolling && available < params.Replicas-params.MaxUnavailable {
		fail("after the ReplicaSet controller ran: %d available < %d - %d", available, params.Replicas, params.MaxUnavailable)
	}
	return plan
}

// checkPlanKeepsBounds asserts the planner's own promises on one plan: scale-ups stay within
// replicas + maxSurge, a rollout's scale-downs leave at least replicas - maxUnavailable
// available pods (or as many as there were), only empty old ReplicaSets are deleted.
func checkPlanKeepsBounds(t *testing.T, before Snapshot, plan Plan, fail func(string, ...any)) {
	t.Helper()
	params, _ := Resolve(before.Rollout)
	after := sumSpec(plan.AllRSs)
	scaledUp := plan.CreateNew != nil && *plan.CreateNew.Spec.Replicas > 0
	for _, s := range plan.Scale {
		scaledUp = scaledUp || s.To > s.From
	}
	bounded := params.Strategy != stepwisev1alpha1.BlueGreenRolloutStrategyType // two full revisions by design
	if plan.RollsForward && bounded && scaledUp && after > params.Replicas+params.MaxSurge {
		fail("plan scales up to %d > %d + %d", after, params.Replicas, params.MaxSurge)
	}
	if plan.RollsForward && params.Strategy == stepwisev1alpha1.RollingUpdateRolloutStrategyType {
		// Available pods beyond a ReplicaSet's desired size are going away whatever this plan
		// does, so both sides count pods only up to the desired size.
		var availableBefore, availableAfter int32
		for _, rs := range before.All() {
			availableBefore += min(rs.Status.AvailableReplicas, *rs.Spec.Replicas)
		}
		for _, rs := range plan.AllRSs {
			// The ReplicaSet controller removes unavailable pods first.
			availableAfter += min(rs.Status.AvailableReplicas, *rs.Spec.Replicas)
		}
		if availableAfter < min(availableBefore, params.Replicas-params.MaxUnavailable) {
			fail("plan leaves %d available < %d - %d", availableAfter, params.Replicas, params.MaxUnavailable)
		}
	}
	for _, d := range plan.Delete {
		if *d.Spec.Replicas != 0 || d.Status.Replicas != 0 {
			fail("plan deletes ReplicaSet %s with pods", d.Name)
		}
	}
}

func joinLines(lines []string) string {
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}

// TestRandomRolloutsKeepBoundsAndConverge is the property test: random sizes, bounds, readiness
// delays, a lagging ReplicaSet controller, bad versions and resizes.
func TestRandomRolloutsKeepBoundsAndConverge(t *testing.T) {
	for seed := range uint64(400) {
		rng := rand.New(rand.NewPCG(seed, 1))
		randomScenario(rng).run(t, seed)
	}
}

// TestBoundsSweep checks every plan for a grid of sizes, bounds and availabilities of one old
// and one new ReplicaSet mid-rollout.
func TestBoundsSweep(t *testing.T) {
	bounds := []intstr.IntOrString{i0, i1, i2, p25, intstr.FromString("50%"), p100}
	for replicas := int32(0); replicas <= 12; replicas++ {
		for _, surge := range bounds {
			for _, unavailable := range bounds {
				if surge == i0 && unavailable == i0 {
					continue
				}
				ro := rollout(replicas, surge, unavailable, "v2")
				params, err := Resolve(ro)
				if err != nil {
					continue // both rounding to zero literally, e.g. 0 and "0%"
				}
				newBase, oldBase := rs(ro, "v2", 1, 2, 0, 0), rs(ro, "v1", 0, 1, 0, 0)
				for oldSpec := int32(0); oldSpec <= replicas; oldSpec++ {
					for newSpec := int32(0); newSpec <= replicas+params.MaxSurge-oldSpec; newSpec++ {
						for oldAvail := int32(0); oldAvail <= oldSpec; oldAvail++ {
							for newAvail := int32(0); newAvail <= newSpec; newAvail++ {
								before := Snapshot{Rollout: ro,
									New: sized(newBase, newSpec, newAvail),
									Old: []*appsv1.ReplicaSet{sized(oldBase, oldSpec, oldAvail)}}
								plan, err := For(before)
								if err != nil {
									t.Fatal(err)
								}
								checkPlanKeepsBounds(t, before, plan, func(format string, args ...any) {
									t.Fatalf("replicas %d surge %s unavailable %s old %d/%d new %d/%d: %s", replicas, surge.String(), unavailable.String(),
										oldAvail, oldSpec, newAvail, newSpec, fmt.Sprintf(format, args...))
								})
							}
						}
					}
				}
			}
		}
	}
}
