package planner

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/analysis"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/status"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// simPod is a pod of the simulated cluster: it becomes available at readyAt (never if -1).
type simPod struct{ readyAt int }

// sim is a tiny cluster: a Rollout, its ReplicaSets and their pods, reconciled the way the
// reconciler does (SplitNewAndOld, For, apply, status.Compute), and a ReplicaSet controller
// that may lag behind (it syncs each ReplicaSet with probability syncChance per tick), creates
// pods that become ready after readyDelay ticks, and deletes unready pods before ready ones, as
// the real one does. Every change is logged with its reason.
type sim struct {
	t          *testing.T
	describe   string // what a failure is about, e.g. "seed 3"
	rng        *rand.Rand
	ro         *stepwisev1alpha1.Rollout
	rss        []*appsv1.ReplicaSet
	pods       map[string][]simPod
	tick       int
	readyDelay int
	syncChance float64
	neverReady map[string]bool                 // images whose pods never become ready
	runs       []*stepwisev1alpha1.AnalysisRun // the analysis runs the plans started
	newPods    []corev1.Pod                    // the new revision's pods, for abortOn
	selectors  map[string]string               // Service name → the pod-template-hash it selects
	resized    bool                            // the bounds of the size the rollout started at no longer hold
	maxPods    int32                           // after a resize: the larger replicas + maxSurge of both sizes
	hold       string                          // the last plan's Hold, logged when it changes
	log        []string
}

// newSim starts a simulated cluster and rolls out ro's first revision, which starts from no
// pods: there are no bounds to keep yet.
func newSim(t *testing.T, describe string, ro *stepwisev1alpha1.Rollout, rng *rand.Rand, readyDelay int, syncChance float64) *sim {
	t.Helper()
	s := &sim{t: t, describe: describe, rng: rng, ro: ro, pods: map[string][]simPod{}, readyDelay: readyDelay, syncChance: syncChance,
		neverReady: map[string]bool{}, selectors: map[string]string{}}
	for !s.converged() {
		if s.tick > 100 {
			s.fail("%s did not roll out: %s", s.image(), s.sizes())
		}
		s.reconcile()
		s.runReplicaSetController()
	}
	s.reconcile() // one more: status catches up, history is pruned
	return s
}

func (s *sim) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s, tick %d: %s\n%s", s.describe, s.tick, fmt.Sprintf(format, args...), strings.Join(s.log[max(0, len(s.log)-60):], "\n"))
}

func (s *sim) logf(format string, args ...any) {
	s.log = append(s.log, fmt.Sprintf("t%d ", s.tick)+fmt.Sprintf(format, args...))
}

// snapshot is what the reconciler reads: copies, split by the controller's rule.
func (s *sim) snapshot() Snapshot {
	owned := make([]*appsv1.ReplicaSet, 0, len(s.rss))
	for _, rs := range s.rss {
		owned = append(owned, rs.DeepCopy())
	}
	snap := SplitNewAndOld(s.ro.DeepCopy(), owned)
	snap.Now = testutil.Epoch.Add(time.Duration(s.tick) * time.Second)
	if bg := s.ro.Spec.Strategy.BlueGreen; bg != nil {
		snap.ActiveHash, snap.PreviewHash = s.selectors[bg.ActiveService], s.selectors[bg.PreviewService]
	}
	for _, run := range s.runs {
		snap.AnalysisRuns = append(snap.AnalysisRuns, run.DeepCopy())
	}
	snap.NewRevisionPods = s.newPods
	return snap
}

// reconcile plans once and applies the plan, as the reconciler does.
func (s *sim) reconcile() Plan {
	s.t.Helper()
	snap := s.snapshot()
	plan, err := For(snap)
	if err != nil {
		s.fail("%v", err)
	}
	if plan.CreateNew != nil {
		rs := plan.CreateNew.DeepCopy()
		rs.CreationTimestamp = metav1.NewTime(snap.Now)
		rs.Generation = 1
		s.rss = append(s.rss, rs)
		s.logf("create %s with replicas %d", s.named(rs), *rs.Spec.Replicas)
	}
	if plan.UpdateNew != nil { // before the scales, in the reconciler's order (apply)
		rs := s.find(plan.UpdateNew.Name)
		rs.Annotations = plan.UpdateNew.Annotations
	}
	for _, step := range plan.Scale {
		rs := s.find(step.ReplicaSet)
		*rs.Spec.Replicas = step.To
		rs.Generation++
		setSizeAnnotations(rs, step.DesiredReplicas, step.MaxReplicas)
		s.logf("scale %s %d→%d: %s", s.named(rs), step.From, step.To, step.Reason)
	}
	for _, sw := range plan.Services {
		s.selectors[sw.Service] = sw.To
		s.logf("switch Service %s from %s to %s", sw.Service, s.imageOfHash(sw.From), s.imageOfHash(sw.To))
	}
	s.applyAnalysis(plan)
	for _, d := range plan.Delete {
		s.logf("delete %s", s.named(d))
		s.rss = slices.DeleteFunc(s.rss, func(rs *appsv1.ReplicaSet) bool { return rs.Name == d.Name })
	}
	if hold := holdText(plan.Hold); hold != s.hold {
		s.hold = hold
		s.logf("hold: %s", cmp.Or(hold, "released"))
	}
	s.ro.Status = status.Compute(plan.StatusInput(s.ro, plan.CreateNew != nil, snap.Now))
	return plan
}

func holdText(h *status.Hold) string {
	if h == nil {
		return ""
	}
	return h.Reason + ": " + h.Message
}

func (s *sim) find(name string) *appsv1.ReplicaSet {
	for _, rs := range s.rss {
		if rs.Name == name {
			return rs
		}
	}
	panic("no ReplicaSet " + name)
}

// named is a ReplicaSet's name and the image it runs, e.g. "web-5d9f (v2)".
func (s *sim) named(rs *appsv1.ReplicaSet) string {
	return fmt.Sprintf("%s (%s)", rs.Name, rs.Spec.Template.Spec.Containers[0].Image)
}

// imageOfHash is the image of the ReplicaSet whose pod-template-hash is hash ("none" for "").
func (s *sim) imageOfHash(hash string) string {
	for _, rs := range s.rss {
		if hash != "" && rs.Labels[stepwisev1alpha1.PodTemplateHashLabel] == hash {
			return rs.Spec.Template.Spec.Containers[0].Image
		}
	}
	return cmp.Or(hash, "none")
}

// hashOf is the pod-template-hash of the ReplicaSet running image.
func (s *sim) hashOf(image string) string {
	for _, rs := range s.rss {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs.Labels[stepwisev1alpha1.PodTemplateHashLabel]
		}
	}
	return ""
}

// runReplicaSetController advances the simulated ReplicaSet controller and kubelet one tick.
// A ReplicaSet's status changes only when its controller syncs it, and reports the pods that
// sync found before creating or deleting any, as the real one does (calculateStatus over the
// active pods it listed): the pods a sync creates count from the next sync on.
func (s *sim) runReplicaSetController() {
	s.tick++
	for _, rs := range s.rss {
		if s.rng.Float64() >= s.syncChance {
			continue
		}
		pods := s.pods[rs.Name]
		ready := int32(0)
		for _, p := range pods {
			if s.ready(p) {
				ready++
			}
		}
		rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = int32(len(pods)), ready, ready
		rs.Status.TerminatingReplicas = ptr.To[int32](0)
		rs.Status.ObservedGeneration = rs.Generation
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
	}
}

func (s *sim) ready(p simPod) bool { return p.readyAt >= 0 && p.readyAt <= s.tick }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// podsInAll counts the pods that exist: what podReplacementPolicy TerminationStarted bounds
// (the simulated ReplicaSet controller removes a pod at once, so none is ever terminating).
func (s *sim) podsInAll() int32 {
	var n int32
	for _, pods := range s.pods {
		n += int32(len(pods))
	}
	return n
}

// totals are the desired pods (spec) and the ready pods that exist over all ReplicaSets.
func (s *sim) totals() (spec, available int32) {
	for _, rs := range s.rss {
		spec += *rs.Spec.Replicas
		for _, p := range s.pods[rs.Name] {
			if s.ready(p) {
				available++
			}
		}
	}
	return spec, available
}

// converged reports whether the new ReplicaSet exists and runs every pod, and old ones none.
func (s *sim) converged() bool {
	params, _ := Resolve(s.ro)
	snap := SplitNewAndOld(s.ro, s.rss)
	if rs := snap.New; rs == nil || *rs.Spec.Replicas != params.Replicas || rs.Status.AvailableReplicas != params.Replicas {
		return false
	}
	for _, rs := range snap.Old {
		if *rs.Spec.Replicas != 0 || rs.Status.Replicas != 0 {
			return false
		}
	}
	return true
}

func (s *sim) image() string { return s.ro.Spec.Template.Spec.Containers[0].Image }

func (s *sim) setImage(image string) {
	s.ro.Spec.Template.Spec.Containers[0].Image = image
	s.ro.Generation++
	s.logf("set image %s", image)
}

// resize changes spec.replicas; the bounds of the old size no longer hold from then on.
func (s *sim) resize(replicas int32) {
	before, _ := Resolve(s.ro)
	s.ro.Spec.Replicas = ptr.To(replicas)
	after, _ := Resolve(s.ro)
	s.maxPods = max(before.Replicas+before.MaxSurge, after.Replicas+after.MaxSurge)
	s.ro.Generation++
	s.resized = true
	s.logf("resize to %d replicas", replicas)
}

// setPartition changes the partition, written as in YAML ("2", "25%"; "" for none).
func (s *sim) setPartition(partition string) {
	ru := s.ro.Spec.Strategy.RollingUpdate
	ru.Partition = nil
	if partition != "" {
		ru.Partition = ptr.To(intstr.Parse(partition))
	}
	s.ro.Generation++
	s.logf("set partition %s", cmp.Or(partition, "none"))
}

// promote does what kubectl stepwise promote does.
func (s *sim) promote() {
	s.ro.Status.Canary.CurrentStep++
	s.ro.Status.Canary.PauseStartTime = nil
	s.logf("promote")
}

// abort does what kubectl stepwise abort does; a rolling update without steps gets its canary
// state then.
func (s *sim) abort() {
	if s.ro.Status.Canary == nil {
		s.ro.Status.Canary = &stepwisev1alpha1.CanaryStatus{PodTemplateHash: revision.ComputeHash(&s.ro.Spec.Template, nil)}
	}
	s.ro.Status.Canary.Aborted = true
	s.logf("abort")
}

// retry does what kubectl stepwise retry does.
func (s *sim) retry() {
	next, err := status.Retry(s.ro)
	if err != nil {
		s.fail("retry: %v", err)
	}
	s.ro.Status.Canary = next
	s.logf("retry")
}

// applyAnalysis starts the runs a plan starts (Running, as the AnalysisRun controller
// leaves them) and terminates those it stops, as the reconciler and that controller do.
func (s *sim) applyAnalysis(plan Plan) {
	for _, start := range plan.StartAnalysis {
		run := &stepwisev1alpha1.AnalysisRun{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s-%d", s.image(), start.Point, start.Attempt), Labels: map[string]string{
				stepwisev1alpha1.AnalysisPointLabel:    start.Point,
				stepwisev1alpha1.AnalysisAttemptLabel:  fmt.Sprint(start.Attempt),
				stepwisev1alpha1.AnalysisRevisionLabel: fmt.Sprint(revision.Of(plan.NewRS)),
				stepwisev1alpha1.PodTemplateHashLabel:  revision.ComputeHash(&s.ro.Spec.Template, nil),
			}},
			Spec:   stepwisev1alpha1.AnalysisRunSpec{Metrics: []stepwisev1alpha1.Metric{{Name: "m"}}},
			Status: stepwisev1alpha1.AnalysisRunStatus{Phase: stepwisev1alpha1.AnalysisPhaseRunning},
		}
		s.runs = append(s.runs, run)
		s.logf("start analysis %s", run.Name)
	}
	for _, gone := range plan.DeleteAnalysis {
		s.runs = slices.DeleteFunc(s.runs, func(run *stepwisev1alpha1.AnalysisRun) bool { return run.Name == gone.Name })
		s.logf("delete analysis %s", gone.Name)
	}
	for _, ev := range plan.AnalysisEvents {
		s.logf("event %s: %s", ev.Reason, ev.Message)
	}
	for _, stop := range plan.StopAnalysis {
		run := s.run(stop.Run.Name)
		run.Spec.Terminate, run.Spec.TerminateReason, run.Spec.Skip = true, stop.Reason, stop.Skip
		analysis.Conclude(run)
		s.logf("stop analysis %s: %s (%s)", run.Name, stop.Reason, run.Status.Phase)
	}
}

// run is the analysis run called name (failing the test when there is none).
func (s *sim) run(name string) *stepwisev1alpha1.AnalysisRun {
	for _, run := range s.runs {
		if run.Name == name {
			return run
		}
	}
	s.fail("no analysis run %s", name)
	return nil
}

// endAnalysis ends a run with phase, as the AnalysisRun controller would.
func (s *sim) endAnalysis(name string, phase stepwisev1alpha1.AnalysisPhase) {
	run := s.run(name)
	run.Status.Phase, run.Status.Message = phase, fmt.Sprintf(`metric "m" %s: measured 0.5`, phase)
	s.logf("analysis %s ends %s", name, phase)
}

// hasRun reports whether an analysis run called name was started.
func (s *sim) hasRun(name string) func() bool {
	return func() bool {
		return slices.ContainsFunc(s.runs, func(run *stepwisev1alpha1.AnalysisRun) bool { return run.Name == name })
	}
}

// sizes are the desired replicas per image, e.g. "v1=9 v2=1".
func (s *sim) sizes() string {
	var out []string
	for _, rs := range s.rss {
		out = append(out, fmt.Sprintf("%s=%d", rs.Spec.Template.Spec.Containers[0].Image, *rs.Spec.Replicas))
	}
	return strings.Join(out, " ")
}

func (s *sim) paused() *stepwisev1alpha1.CanaryStatus {
	if cond := meta.FindStatusCondition(s.ro.Status.Conditions, stepwisev1alpha1.ConditionPaused); cond == nil {
		return nil
	}
	return s.ro.Status.Canary
}

func (s *sim) pausedFor(reason string) func() bool {
	return func() bool {
		cond := meta.FindStatusCondition(s.ro.Status.Conditions, stepwisev1alpha1.ConditionPaused)
		return cond != nil && cond.Reason == reason
	}
}

// until ticks until done holds (checked after each tick), at most 300 ticks.
func (s *sim) until(what string, done func() bool) {
	s.t.Helper()
	for range 300 {
		s.step()
		if done() {
			return
		}
	}
	s.fail("no %s in 300 ticks", what)
}

// step reconciles once and runs the ReplicaSet controller once, checking every promise the
// plan and the states around it must keep for the Rollout's strategy: the bounds (until a
// resize moves them), the new ReplicaSet within the plan's target (the current canary step or
// the partition), and for a blue-green rollout, an active Service only on fully available pods.
func (s *sim) step() Plan {
	s.t.Helper()
	params, _ := Resolve(s.ro)
	if params.Strategy == stepwisev1alpha1.BlueGreenRolloutStrategyType {
		plan := s.checkedTick(false, false) // two full revisions by design
		s.checkActiveService()
		return plan
	}
	plan := s.checkedTick(!s.resized, params.Strategy == stepwisev1alpha1.RollingUpdateRolloutStrategyType)
	if s.resized {
		return plan
	}
	if c := plan.CreateNew; c != nil && *c.Spec.Replicas > plan.Target {
		s.fail("created the new ReplicaSet with %d > target %d", *c.Spec.Replicas, plan.Target)
	}
	for _, step := range plan.Scale {
		if plan.NewRS != nil && step.ReplicaSet == plan.NewRS.Name && step.To > step.From && step.To > plan.Target {
			s.fail("scaled the new ReplicaSet up to %d > target %d", step.To, plan.Target)
		}
	}
	return plan
}

// checkActiveService checks that the active Service selects a revision whose every pod is
// available: traffic never moves to a revision that is not ready.
func (s *sim) checkActiveService() {
	s.t.Helper()
	hash := s.selectors[s.ro.Spec.Strategy.BlueGreen.ActiveService]
	for _, rs := range s.rss {
		if rs.Labels[stepwisev1alpha1.PodTemplateHashLabel] == hash && rs.Status.AvailableReplicas < *s.ro.Spec.Replicas {
			s.fail("the active Service selects %s with %d < %d available pods", rs.Name, rs.Status.AvailableReplicas, *s.ro.Spec.Replicas)
		}
	}
}

// checkedTick reconciles once, runs the ReplicaSet controller once, and checks the bounds on
// the plan and on both states: the desired pods within replicas + maxSurge (when strict), one
// ReplicaSet per template, the available pods at or above replicas - maxUnavailable (for a
// rolling update: rolling, and strict).
func (s *sim) checkedTick(strict, rolling bool) Plan {
	s.t.Helper()
	params, _ := Resolve(s.ro)
	before := s.snapshot()
	plan := s.reconcile()
	specTotal, available := s.totals()
	if strict && plan.RollsForward && specTotal > params.Replicas+params.MaxSurge && len(plan.Scale)+boolInt(plan.CreateNew != nil) > 0 {
		s.fail("%d desired pods > %d replicas + %d maxSurge", specTotal, params.Replicas, params.MaxSurge)
	}
	if strict && rolling && available < params.Replicas-params.MaxUnavailable {
		s.fail("%d available < %d replicas - %d maxUnavailable", available, params.Replicas, params.MaxUnavailable)
	}
	newRSs := 0
	for _, rs := range s.rss {
		if revision.EqualIgnoreHash(&s.ro.Spec.Template, &rs.Spec.Template) {
			newRSs++
		}
	}
	if newRSs > 1 {
		s.fail("%d ReplicaSets for one template", newRSs)
	}
	checkPlanKeepsBounds(before, plan, s.fail)
	s.runReplicaSetController()
	// Pods that exist, not just desired, stay within bounds while rolling.
	if _, available := s.totals(); strict && rolling && available < params.Replicas-params.MaxUnavailable {
		s.fail("after the ReplicaSet controller ran: %d available < %d - %d", available, params.Replicas, params.MaxUnavailable)
	}
	if pods := s.podsInAll(); strict && rolling && pods > params.Replicas+params.MaxSurge {
		s.fail("after the ReplicaSet controller ran: %d pods > %d replicas + %d maxSurge", pods, params.Replicas, params.MaxSurge)
	}
	if pods := s.podsInAll(); s.resized && rolling && params.PodReplacement != stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes && pods > s.maxPods {
		s.fail("after the ReplicaSet controller ran, resized: %d pods > %d, the larger replicas + maxSurge of both sizes", pods, s.maxPods)
	}
	return plan
}

// checkPlanKeepsBounds asserts the planner's own promises on one plan: scale-ups stay within
// replicas + maxSurge, a rollout's scale-downs leave at least replicas - maxUnavailable
// available pods (or as many as there were), only empty old ReplicaSets are deleted.
func checkPlanKeepsBounds(before Snapshot, plan Plan, fail func(string, ...any)) {
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

// scenario is one randomized rollout: a stable v1, then v2 (maybe never ready, then fixed to v3),
// maybe a resize in the middle. Bounds are written as in YAML ("1", "25%").
type scenario struct {
	replicas, resizeTo    int32
	surge, unavailable    string
	recreate              bool
	readyDelay            int
	syncChance            float64
	badVersion, resizeMid bool
}

func randomScenario(rng *rand.Rand) scenario {
	bounds := []string{"0", "1", "2", "3", "0%", "25%", "50%", "100%", "10%"}
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
	if _, err := Resolve(sc.rollout()); err != nil {
		sc.unavailable = "25%" // both zero is rejected as invalid; covered elsewhere
	}
	return sc
}

func (sc scenario) rollout() *stepwisev1alpha1.Rollout {
	ro := testutil.Rollout("web").Replicas(sc.replicas).Surge(sc.surge).Unavailable(sc.unavailable).Image("v1")
	if sc.recreate {
		ro.Recreate()
	}
	return ro.Obj()
}

// run plays a scenario and checks the bounds on every observed state.
func (sc scenario) run(t *testing.T, seed uint64) {
	t.Helper()
	s := newSim(t, fmt.Sprintf("seed %d, %+v", seed, sc), sc.rollout(), rand.New(rand.NewPCG(seed, seed^0x5eed)), sc.readyDelay, sc.syncChance)
	s.neverReady["v2"] = true
	if sc.badVersion {
		s.setImage("v2")
	} else {
		s.setImage("v3")
	}
	for tick := 0; ; tick++ {
		s.step()
		if sc.resizeMid && !s.resized && tick == 3 {
			s.resize(sc.resizeTo)
		}
		if tick == 30 && s.image() == "v2" {
			// The bad version never completes; fixing the template must resume the rollout.
			s.setImage("v3")
		}
		if s.image() == "v3" && s.converged() {
			return
		}
		// A wave waits for two syncs of the simulated ReplicaSet controller (the old pods' removal
		// under podReplacementPolicy TerminationStarted, then the new pods): one pod at a time
		// at a sync chance near 0.3, 35 pods take several hundred ticks.
		if tick > 1500 {
			s.fail("did not converge in 1500 ticks")
		}
	}
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
	bounds := []string{"0", "1", "2", "25%", "50%", "100%"}
	for replicas := int32(0); replicas <= 12; replicas++ {
		for _, surge := range bounds {
			for _, unavailable := range bounds {
				if surge == "0" && unavailable == "0" {
					continue
				}
				ro := testutil.Rollout("web").Replicas(replicas).Surge(surge).Unavailable(unavailable).Image("v2").Obj()
				params, err := Resolve(ro)
				if err != nil {
					continue // both rounding to zero literally, e.g. 0 and "0%"
				}
				// One object of each, resized in place: planning only reads its inputs.
				newRS, oldRS := rs(ro, "v2", 2), rs(ro, "v1", 1)
				for oldSpec := int32(0); oldSpec <= replicas; oldSpec++ {
					for newSpec := int32(0); newSpec <= replicas+params.MaxSurge-oldSpec; newSpec++ {
						for oldAvail := int32(0); oldAvail <= oldSpec; oldAvail++ {
							for newAvail := int32(0); newAvail <= newSpec; newAvail++ {
								before := Snapshot{Rollout: ro,
									New: newRS.Replicas(newSpec).Available(newAvail).Obj(),
									Old: []*appsv1.ReplicaSet{oldRS.Replicas(oldSpec).Available(oldAvail).Obj()}}
								plan, err := For(before)
								if err != nil {
									t.Fatal(err)
								}
								checkPlanKeepsBounds(before, plan, func(format string, args ...any) {
									t.Fatalf("replicas %d surge %s unavailable %s old %d/%d new %d/%d: %s", replicas, surge, unavailable,
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
