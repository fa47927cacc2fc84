package planner

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// rs starts ro's ReplicaSet of image at revision, last scaled for ro's size, as the
// controller's scale steps leave it.
func rs(ro *stepwisev1alpha1.Rollout, image string, revision int64) *testutil.ReplicaSetBuilder {
	params, _ := Resolve(ro)
	return testutil.ReplicaSet(ro, image).Revision(revision).LastScaledFor(params.Replicas, params.Replicas+params.MaxSurge)
}

func withPodReplacement(ro *stepwisev1alpha1.Rollout, policy stepwisev1alpha1.PodReplacementPolicy) *stepwisev1alpha1.Rollout {
	ro.Spec.PodReplacementPolicy = policy
	return ro
}

func sizes(steps []ScaleStep) []string {
	var out []string
	for _, s := range steps {
		out = append(out, fmt.Sprintf("%s %d→%d", s.ReplicaSet, s.From, s.To))
	}
	return out
}

func TestRolling(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ro         *stepwisev1alpha1.Rollout
		newRS      func(*stepwisev1alpha1.Rollout) *appsv1.ReplicaSet
		oldRSs     func(*stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet
		wantCreate int32 // replicas of a created ReplicaSet, -1 for none
		wantScale  []string
	}{
		{
			name: "hellok8s v1→v2, surge 1 unavailable 1: create with 1 and scale v1 to 2; the new one grows once that pod terminates",
			ro:   testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("1").Image("v2").Obj(),
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(3).Available(3).Obj()}
			},
			wantCreate: 1,
			wantScale:  []string{"web-v1 3→2"},
		},
		{
			name: "surge 1, unavailable 0: add one new pod first, keep every old one",
			ro:   testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("0").Image("v2").Obj(),
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(3).Available(3).Obj()}
			},
			wantCreate: 1,
		},
		{
			name: "surge 0, unavailable 1: new starts empty, one old pod goes; the new one takes its place once it terminates",
			ro:   testutil.Rollout("web").Replicas(3).Surge("0").Unavailable("1").Image("v2").Obj(),
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(3).Available(3).Obj()}
			},
			wantCreate: 0,
			wantScale:  []string{"web-v1 3→2"},
		},
		{
			name: "new pod not yet available: no old pod may go",
			ro:   testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("0").Image("v2").Obj(),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
				return rs(ro, "v2", 2).Replicas(1).Available(0).Obj()
			},
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(3).Available(3).Obj()}
			},
			wantCreate: -1,
		},
		{
			name: "new pod available: one old pod goes; the new ReplicaSet takes the room once it terminates",
			ro:   testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("0").Image("v2").Obj(),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
				return rs(ro, "v2", 2).Replicas(1).Available(1).Obj()
			},
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(3).Available(3).Obj()}
			},
			wantCreate: -1,
			wantScale:  []string{"web-v1 3→2"},
		},
		{
			name: "the replaced pod is terminating: the new ReplicaSet takes its place",
			ro:   testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("0").Image("v2").Obj(),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
				return rs(ro, "v2", 2).Replicas(1).Available(1).Obj()
			},
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(2).Available(2).Terminating(1).Obj()}
			},
			wantCreate: -1,
			wantScale:  []string{"web-v2 1→2"},
		},
		{
			name: "ReplicaSetSizes: the new ReplicaSet takes the room of a pod not yet removed, as a Deployment does",
			ro:   withPodReplacement(testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("0").Image("v2").Obj(), stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
				return rs(ro, "v2", 2).Replicas(1).Available(1).Obj()
			},
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(3).Available(3).Obj()}
			},
			wantCreate: -1,
			wantScale:  []string{"web-v1 3→2", "web-v2 1→2"},
		},
		{
			name: "TerminationComplete: a terminating pod still counts against maxSurge",
			ro:   withPodReplacement(testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("0").Image("v2").Obj(), stepwisev1alpha1.PodReplacementPolicyTerminationComplete),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
				return rs(ro, "v2", 2).Replicas(1).Available(1).Obj()
			},
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(2).Available(2).Terminating(1).Obj()}
			},
			wantCreate: -1,
		},
		{
			name: "an old ReplicaSet still creating pods (a resize grew it) is not scaled down until they exist",
			ro:   testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("1").Image("v2").Obj(),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
				return rs(ro, "v2", 2).Replicas(1).Available(1).Obj()
			},
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(3).Pods(2).Available(2).Obj()}
			},
			wantCreate: -1,
		},
		{
			name: "a ReplicaSet whose creates were refused (ReplicaFailure) is scaled down",
			ro:   testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("1").Image("v2").Obj(),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
				return rs(ro, "v2", 2).Replicas(1).Available(1).Obj()
			},
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				old := rs(ro, "v1", 1).Replicas(3).Pods(2).Available(2).Obj()
				old.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate"}}
				return []*appsv1.ReplicaSet{old}
			},
			wantCreate: -1,
			wantScale:  []string{"web-v1 3→2", "web-v1 2→1", "web-v2 1→2"}, // its unavailable pod, then an available one
		},
		{
			name: "ReplicaSetSizes: a ReplicaSet still creating pods is scaled down, as a Deployment does",
			ro:   withPodReplacement(testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("1").Image("v2").Obj(), stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
				return rs(ro, "v2", 2).Replicas(1).Available(1).Obj()
			},
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(3).Pods(2).Available(2).Obj()}
			},
			wantCreate: -1,
			wantScale:  []string{"web-v1 3→2", "web-v1 2→1", "web-v2 1→3"},
		},
		{
			name: "room under the surge: the new ReplicaSet grows before old ones shrink",
			ro:   testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("0").Image("v2").Obj(),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
				return rs(ro, "v2", 2).Replicas(1).Available(1).Obj()
			},
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(2).Available(2).Obj()}
			},
			wantCreate: -1,
			wantScale:  []string{"web-v2 1→2"},
		},
		{
			name: "unhealthy old pods go first, oldest ReplicaSet first",
			ro:   testutil.Rollout("web").Replicas(4).Surge("1").Unavailable("1").Image("v3").Obj(),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
				return rs(ro, "v3", 3).Replicas(1).Available(0).Obj()
			},
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(2).Available(1).Obj(), rs(ro, "v2", 2).Replicas(2).Available(2).Obj()}
			},
			wantCreate: -1,
			// 5 pods, min available 3, 1 new unavailable: 1 may go; v1's unavailable pod goes,
			// and v3 takes its place once it terminates.
			wantScale: []string{"web-v1 2→1"},
		},
		{
			name: "both bounds 0% rounds to unavailable 1",
			ro:   testutil.Rollout("web").Replicas(3).Surge("0%").Unavailable("10%").Image("v2").Obj(),
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(3).Available(3).Obj()}
			},
			wantCreate: 0,
			wantScale:  []string{"web-v1 3→2"},
		},
		{
			name: "100% surge: the whole new size at once",
			ro:   testutil.Rollout("web").Replicas(10).Surge("100%").Unavailable("0%").Image("v2").Obj(),
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(10).Available(10).Obj()}
			},
			wantCreate: 10,
		},
		{
			name: "complete: nothing to do",
			ro:   testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("1").Image("v2").Obj(),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
				return rs(ro, "v2", 2).Replicas(3).Available(3).Obj()
			},
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(0).Available(0).Obj()}
			},
			wantCreate: -1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s := Snapshot{Rollout: tc.ro, Now: testutil.Epoch.Add(time.Hour)}
			if tc.newRS != nil {
				s.New = tc.newRS(tc.ro)
			}
			if tc.oldRSs != nil {
				s.Old = tc.oldRSs(tc.ro)
			}
			plan, err := For(s)
			g.Expect(err).NotTo(HaveOccurred())
			if tc.wantCreate < 0 {
				g.Expect(plan.CreateNew).To(BeNil())
			} else {
				g.Expect(plan.CreateNew).NotTo(BeNil())
				g.Expect(*plan.CreateNew.Spec.Replicas).To(Equal(tc.wantCreate))
			}
			g.Expect(sizes(plan.Scale)).To(Equal(tc.wantScale))
			for _, step := range plan.Scale {
				g.Expect(step.Reason).NotTo(BeEmpty())
			}
		})
	}
}

func TestNewReplicaSetCarriesHashRevisionAndAnnotations(t *testing.T) {
	g := NewWithT(t)
	ro := testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("1").Image("v2").Obj()
	ro.Annotations = map[string]string{stepwisev1alpha1.ChangeCauseAnnotation: "v2 release", corev1.LastAppliedConfigAnnotation: "{}"}
	ro.Spec.MinReadySeconds = 5
	plan, err := For(Snapshot{Rollout: ro, Old: []*appsv1.ReplicaSet{rs(ro, "v1", 7).Replicas(3).Available(3).Obj()}})
	g.Expect(err).NotTo(HaveOccurred())
	created := plan.CreateNew
	hash := created.Labels[stepwisev1alpha1.PodTemplateHashLabel]
	g.Expect(hash).NotTo(BeEmpty())
	g.Expect(created.Name).To(Equal("web-" + hash))
	g.Expect(created.Spec.Selector.MatchLabels).To(HaveKeyWithValue(stepwisev1alpha1.PodTemplateHashLabel, hash))
	g.Expect(created.Spec.Template.Labels).To(HaveKeyWithValue(stepwisev1alpha1.PodTemplateHashLabel, hash))
	g.Expect(created.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.RevisionAnnotation, "8"))
	g.Expect(created.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.ChangeCauseAnnotation, "v2 release"))
	g.Expect(created.Annotations).NotTo(HaveKey(corev1.LastAppliedConfigAnnotation))
	g.Expect(created.Spec.MinReadySeconds).To(Equal(int32(5)))
	g.Expect(metav1.IsControlledBy(created, ro)).To(BeTrue())
	// The Rollout's own template is untouched.
	g.Expect(ro.Spec.Template.Labels).NotTo(HaveKey(stepwisev1alpha1.PodTemplateHashLabel))
}

func TestBringingBackAnOldRevisionRenumbersIt(t *testing.T) {
	g := NewWithT(t)
	ro := testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("1").Image("v1").Obj()
	v1 := rs(ro, "v1", 1).Replicas(0).Available(0).Obj()
	plan, err := For(Snapshot{Rollout: ro, New: v1, Old: []*appsv1.ReplicaSet{rs(ro, "v2", 2).Replicas(3).Available(3).Obj()}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.UpdateNew).NotTo(BeNil())
	g.Expect(plan.UpdateNew.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.RevisionAnnotation, "3"))
	g.Expect(plan.UpdateNew.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.RevisionHistoryAnnotation, "1"))
	g.Expect(v1.Annotations[stepwisev1alpha1.RevisionAnnotation]).To(Equal("1"), "inputs are not mutated")
}

func TestRecreate(t *testing.T) {
	g := NewWithT(t)
	ro := testutil.Rollout("web").Replicas(3).Image("v2").Recreate().Obj()
	old := rs(ro, "v1", 1).Replicas(3).Available(3).Obj()

	plan, err := For(Snapshot{Rollout: ro, Old: []*appsv1.ReplicaSet{old}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sizes(plan.Scale)).To(Equal([]string{"web-v1 3→0"}))
	g.Expect(plan.CreateNew).To(BeNil(), "no new pod while old ones may run")

	old = rs(ro, "v1", 1).Terminating(2).Obj()
	plan, _ = For(Snapshot{Rollout: ro, Old: []*appsv1.ReplicaSet{old}})
	g.Expect(plan.CreateNew).To(BeNil(), "terminating old pods still run")
	g.Expect(plan.Scale).To(BeEmpty())

	old.Status.TerminatingReplicas = ptr.To[int32](0)
	plan, _ = For(Snapshot{Rollout: ro, Old: []*appsv1.ReplicaSet{old}})
	g.Expect(plan.CreateNew).NotTo(BeNil())
	g.Expect(*plan.CreateNew.Spec.Replicas).To(Equal(int32(3)))
}

func TestPausedRolloutOnlyScales(t *testing.T) {
	g := NewWithT(t)
	ro := testutil.Rollout("web").Replicas(5).Surge("1").Unavailable("1").Image("v2").Paused().Obj()
	plan, err := For(Snapshot{Rollout: ro, Old: []*appsv1.ReplicaSet{rs(testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("1").Image("v1").Obj(), "v1", 1).Replicas(3).Available(3).Obj()}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.RollsForward).To(BeFalse())
	g.Expect(plan.CreateNew).To(BeNil(), "a paused Rollout starts no new revision")
	g.Expect(sizes(plan.Scale)).To(Equal([]string{"web-v1 3→5"}))
}

func TestProportionalScalingMidRollout(t *testing.T) {
	g := NewWithT(t)
	// Rolled out at 10 replicas (25%/25%: max 13) to old 8 + new 5; replicas becomes 20.
	before := testutil.Rollout("web").Replicas(10).Surge("25%").Unavailable("25%").Image("v2").Obj()
	ro := testutil.Rollout("web").Replicas(20).Surge("25%").Unavailable("25%").Image("v2").Obj()
	old := rs(before, "v1", 1).Replicas(8).Available(8).Obj()
	newRS := rs(before, "v2", 2).Replicas(5).Available(3).Obj()
	plan, err := For(Snapshot{Rollout: ro, New: newRS, Old: []*appsv1.ReplicaSet{old}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.RollsForward).To(BeFalse())
	// allowed 20+5 = 25, add 12: old 8×25/13 = 15.4 → +7, new 5×25/13 = 9.6 → +5.
	g.Expect(sizes(plan.Scale)).To(ConsistOf("web-v1 8→15", "web-v2 5→10"))
	for _, step := range plan.Scale {
		g.Expect(step.DesiredReplicas).To(Equal(int32(20)))
		g.Expect(step.MaxReplicas).To(Equal(int32(25)))
	}
}

// A resize down waits, whole, for a ReplicaSet still creating pods, then spreads as before.
func TestProportionalScalingWaitsForPodsInFlight(t *testing.T) {
	g := NewWithT(t)
	before := testutil.Rollout("web").Replicas(20).Surge("25%").Unavailable("25%").Image("v2").Obj()
	ro := testutil.Rollout("web").Replicas(10).Surge("25%").Unavailable("25%").Image("v2").Obj()
	old := rs(before, "v1", 1).Replicas(15).Pods(12).Available(12).Obj()
	newRS := rs(before, "v2", 2).Replicas(10).Available(8).Obj()
	plan, err := For(Snapshot{Rollout: ro, New: newRS, Old: []*appsv1.ReplicaSet{old}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.Scale).To(BeEmpty(), "old still creates 3 pods")

	old.Status.Replicas = 15
	plan, err = For(Snapshot{Rollout: ro, New: newRS, Old: []*appsv1.ReplicaSet{old}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sizes(plan.Scale)).To(ConsistOf("web-v1 15→8", "web-v2 10→5"))
}

func TestHistoryIsPrunedOnlyWhenComplete(t *testing.T) {
	g := NewWithT(t)
	ro := testutil.Rollout("web").Replicas(2).Surge("1").Unavailable("1").Image("v4").Obj()
	ro.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	ro.Status = stepwisev1alpha1.RolloutStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}
	olds := []*appsv1.ReplicaSet{rs(ro, "v1", 1).Replicas(0).Available(0).Obj(), rs(ro, "v2", 2).Replicas(0).Available(0).Obj(), rs(ro, "v3", 3).Replicas(0).Available(0).Obj()}
	plan, err := For(Snapshot{Rollout: ro, New: rs(ro, "v4", 4).Replicas(2).Available(2).Obj(), Old: olds})
	g.Expect(err).NotTo(HaveOccurred())
	var deleted []string
	for _, d := range plan.Delete {
		deleted = append(deleted, d.Name)
	}
	g.Expect(deleted).To(Equal([]string{"web-v1", "web-v2"}))
}

func TestInvalidSpecsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*stepwisev1alpha1.Rollout)
		field  string
	}{
		{"empty selector", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Selector = &metav1.LabelSelector{} }, "spec.selector"},
		{"selector does not match", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Template.Labels = map[string]string{"app": "other"} }, "spec.template.metadata.labels"},
		{"both zero", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy.RollingUpdate = &stepwisev1alpha1.RollingUpdateRollout{MaxSurge: ptr.To(intstr.FromInt32(0)), MaxUnavailable: ptr.To(intstr.FromString("0%"))}
		}, "spec.strategy.rollingUpdate.maxUnavailable"},
		{"malformed percent", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("25.5%"))
		}, "spec.strategy.rollingUpdate.maxSurge"},
		{"no percent sign", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("25"))
		}, "spec.strategy.rollingUpdate.maxUnavailable"},
		{"over 100%", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("101%"))
		}, "spec.strategy.rollingUpdate.maxUnavailable"},
		{"Recreate with rollingUpdate", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy.Type = stepwisev1alpha1.RecreateRolloutStrategyType
		}, "spec.strategy.rollingUpdate"},
		{"negative replicas", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Replicas = ptr.To[int32](-1) }, "spec.replicas"},
		{"negative minReadySeconds", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.MinReadySeconds = -1 }, "spec.minReadySeconds"},
		{"negative revisionHistoryLimit", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.RevisionHistoryLimit = ptr.To[int32](-1) }, "spec.revisionHistoryLimit"},
		{"deadline not above minReadySeconds", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.MinReadySeconds, ro.Spec.ProgressDeadlineSeconds = 10, ptr.To[int32](10)
		}, "spec.progressDeadlineSeconds"},
		{"restartPolicy Never", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, "spec.template.spec.restartPolicy"},
		{"BlueGreen without blueGreen", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.BlueGreenRolloutStrategyType}
		}, "spec.strategy.blueGreen"},
		{"BlueGreen without activeService", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.BlueGreenRolloutStrategyType, BlueGreen: &stepwisev1alpha1.BlueGreenStrategy{PreviewService: "p"}}
		}, "spec.strategy.blueGreen.activeService"},
		{"unknown progressDeadlineAction", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.ProgressDeadlineAction = "Explode" }, "spec.progressDeadlineAction"},
		{"unknown podReplacementPolicy", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.PodReplacementPolicy = "Never" }, "spec.podReplacementPolicy"},
		{"partition over 100%", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy.RollingUpdate.Partition = ptr.To(intstr.FromString("150%"))
		}, "spec.strategy.rollingUpdate.partition"},
		{"negative step", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy.RollingUpdate.Steps = []stepwisev1alpha1.CanaryStep{{Replicas: ptr.To(intstr.FromInt32(1))}, {Replicas: ptr.To(intstr.FromInt32(-1))}}
		}, "spec.strategy.rollingUpdate.steps[1].replicas"},
		{"negative pause", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy.RollingUpdate.Steps = []stepwisev1alpha1.CanaryStep{{Replicas: ptr.To(intstr.FromInt32(1)), Pause: &stepwisev1alpha1.CanaryPause{DurationSeconds: ptr.To[int32](-5)}}}
		}, "spec.strategy.rollingUpdate.steps[0].pause.durationSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ro := testutil.Rollout("web").Replicas(3).Surge("1").Unavailable("1").Image("v1").Obj()
			tc.mutate(ro)
			_, err := For(Snapshot{Rollout: ro})
			var invalidErr *InvalidSpecError
			g.Expect(err).To(BeAssignableToTypeOf(invalidErr))
			g.Expect(err.(*InvalidSpecError).Field).To(Equal(tc.field))
		})
	}
}

func TestResolveFenceposts(t *testing.T) {
	for _, tc := range []struct {
		surge, unavailable string
		desired            int32
		wantS, wantU       int32
	}{
		{"25%", "25%", 10, 3, 2},
		{"1", "1", 3, 1, 1},
		{"25%", "25%", 1, 1, 0},
		{"0", "10%", 3, 0, 1},
		{"0", "5", 2, 0, 2},
		{"100%", "0%", 10, 10, 0},
		{"3", "2", 25, 3, 2},
		{"25%", "25%", 0, 0, 0},
	} {
		surge, unavailable := intstr.Parse(tc.surge), intstr.Parse(tc.unavailable)
		s, u, err := ResolveFenceposts(&surge, &unavailable, tc.desired)
		if err != nil || s != tc.wantS || u != tc.wantU {
			t.Errorf("ResolveFenceposts(%s, %s, %d) = %d, %d, %v; want %d, %d", tc.surge, tc.unavailable, tc.desired, s, u, err, tc.wantS, tc.wantU)
		}
	}
}
