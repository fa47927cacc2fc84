package planner

import (
	"fmt"
	"strings"
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

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// rollout builds a RollingUpdate Rollout "web" running image, as stored (UID, generation 1).
func rollout(replicas int32, surge, unavailable intstr.IntOrString, image string) *stepwisev1alpha1.Rollout {
	return testutil.Rollout("web").Namespace("ns").Replicas(replicas).Surge(surge.String()).Unavailable(unavailable.String()).Image(image).Obj()
}

// imageSuffix turns an image into a name suffix ("web:v2" → "webv2").
var imageSuffix = strings.NewReplacer(":", "", ".", "")

// rs builds a ReplicaSet of ro's template (image) with spec replicas and available pods, sized
// for ro's current replicas; age orders creation (smaller is older).
func rs(ro *stepwisev1alpha1.Rollout, image string, age int, revision, spec, available int32) *appsv1.ReplicaSet {
	t := ro.Spec.Template.DeepCopy()
	t.Spec.Containers[0].Image = image
	params, _ := Resolve(ro)
	base := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-" + imageSuffix.Replace(image), Namespace: "ns",
			CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(age) * time.Minute)),
			Annotations: map[string]string{
				stepwisev1alpha1.RevisionAnnotation:        fmt.Sprint(revision),
				stepwisev1alpha1.DesiredReplicasAnnotation: fmt.Sprint(params.Replicas),
				stepwisev1alpha1.MaxReplicasAnnotation:     fmt.Sprint(params.Replicas + params.MaxSurge),
			},
		},
		Spec:   appsv1.ReplicaSetSpec{Template: *t},
		Status: appsv1.ReplicaSetStatus{TerminatingReplicas: ptr.To[int32](0)},
	}
	return sized(base, spec, available)
}

// sized is base with spec replicas and available (and ready) pods. The copy is shallow, so a
// sweep of sizes shares base's template and annotations: planning only reads them.
func sized(base *appsv1.ReplicaSet, spec, available int32) *appsv1.ReplicaSet {
	rs := *base
	rs.Spec.Replicas = &spec
	rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = spec, available, available
	return &rs
}

func sizes(steps []ScaleStep) []string {
	var out []string
	for _, s := range steps {
		out = append(out, fmt.Sprintf("%s %d→%d", s.ReplicaSet, s.From, s.To))
	}
	return out
}

var (
	i0   = intstr.FromInt32(0)
	i1   = intstr.FromInt32(1)
	i2   = intstr.FromInt32(2)
	i3   = intstr.FromInt32(3)
	p0   = intstr.FromString("0%")
	p25  = intstr.FromString("25%")
	p100 = intstr.FromString("100%")
)

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
			name: "hellok8s v1→v2, surge 1 unavailable 1: create with 1, scale v1 to 2 and the new one to 2 in the same step",
			ro:   rollout(3, i1, i1, "v2"),
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 0, 1, 3, 3)}
			},
			wantCreate: 1,
			wantScale:  []string{"web-v1 3→2", "web-569858f45d 1→2"},
		},
		{
			name: "surge 1, unavailable 0: add one new pod first, keep every old one",
			ro:   rollout(3, i1, i0, "v2"),
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 0, 1, 3, 3)}
			},
			wantCreate: 1,
		},
		{
			name: "surge 0, unavailable 1: new starts empty, one old pod goes, the new one takes its place",
			ro:   rollout(3, i0, i1, "v2"),
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 0, 1, 3, 3)}
			},
			wantCreate: 0,
			wantScale:  []string{"web-v1 3→2", "web-569858f45d 0→1"},
		},
		{
			name:  "new pod not yet available: no old pod may go",
			ro:    rollout(3, i1, i0, "v2"),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet { return rs(ro, "v2", 1, 2, 1, 0) },
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 0, 1, 3, 3)}
			},
			wantCreate: -1,
		},
		{
			name:  "new pod available: one old pod goes, the new ReplicaSet takes the room at once",
			ro:    rollout(3, i1, i0, "v2"),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet { return rs(ro, "v2", 1, 2, 1, 1) },
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 0, 1, 3, 3)}
			},
			wantCreate: -1,
			wantScale:  []string{"web-v1 3→2", "web-v2 1→2"},
		},
		{
			name:  "room under the surge: the new ReplicaSet grows before old ones shrink",
			ro:    rollout(3, i1, i0, "v2"),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet { return rs(ro, "v2", 1, 2, 1, 1) },
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 0, 1, 2, 2)}
			},
			wantCreate: -1,
			wantScale:  []string{"web-v2 1→2"},
		},
		{
			name:  "unhealthy old pods go first, oldest ReplicaSet first",
			ro:    rollout(4, i1, i1, "v3"),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet { return rs(ro, "v3", 2, 3, 1, 0) },
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 0, 1, 2, 1), rs(ro, "v2", 1, 2, 2, 2)}
			},
			wantCreate: -1,
			// 5 pods, min available 3, 1 new unavailable: 1 may go; v1's unavailable pod goes,
			// and v3 takes its place.
			wantScale: []string{"web-v1 2→1", "web-v3 1→2"},
		},
		{
			name: "both bounds 0% rounds to unavailable 1",
			ro:   rollout(3, p0, intstr.FromString("10%"), "v2"),
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 0, 1, 3, 3)}
			},
			wantCreate: 0,
			wantScale:  []string{"web-v1 3→2", "web-569858f45d 0→1"},
		},
		{
			name: "100% surge: the whole new size at once",
			ro:   rollout(10, p100, p0, "v2"),
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 0, 1, 10, 10)}
			},
			wantCreate: 10,
		},
		{
			name:  "complete: nothing to do",
			ro:    rollout(3, i1, i1, "v2"),
			newRS: func(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet { return rs(ro, "v2", 1, 2, 3, 3) },
			oldRSs: func(ro *stepwisev1alpha1.Rollout) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{rs(ro, "v1", 0, 1, 0, 0)}
			},
			wantCreate: -1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s := Snapshot{Rollout: tc.ro, Now: epoch.Add(time.Hour)}
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
	ro := rollout(3, i1, i1, "v2")
	ro.Annotations = map[string]string{stepwisev1alpha1.ChangeCauseAnnotation: "v2 release", corev1.LastAppliedConfigAnnotation: "{}"}
	ro.Spec.MinReadySeconds = 5
	plan, err := For(Snapshot{Rollout: ro, Old: []*appsv1.ReplicaSet{rs(ro, "v1", 0, 7, 3, 3)}})
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
	ro := rollout(3, i1, i1, "v1")
	v1 := rs(ro, "v1", 0, 1, 0, 0)
	plan, err := For(Snapshot{Rollout: ro, New: v1, Old: []*appsv1.ReplicaSet{rs(ro, "v2", 1, 2, 3, 3)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.UpdateNew).NotTo(BeNil())
	g.Expect(plan.UpdateNew.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.RevisionAnnotation, "3"))
	g.Expect(plan.UpdateNew.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.RevisionHistoryAnnotation, "1"))
	g.Expect(v1.Annotations[stepwisev1alpha1.RevisionAnnotation]).To(Equal("1"), "inputs are not mutated")
}

func TestRecreate(t *testing.T) {
	g := NewWithT(t)
	ro := rollout(3, i0, i0, "v2")
	ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.RecreateRolloutStrategyType}
	old := rs(ro, "v1", 0, 1, 3, 3)

	plan, err := For(Snapshot{Rollout: ro, Old: []*appsv1.ReplicaSet{old}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sizes(plan.Scale)).To(Equal([]string{"web-v1 3→0"}))
	g.Expect(plan.CreateNew).To(BeNil(), "no new pod while old ones may run")

	old = rs(ro, "v1", 0, 1, 0, 0)
	old.Status.TerminatingReplicas = ptr.To[int32](2)
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
	ro := rollout(5, i1, i1, "v2")
	ro.Spec.Paused = true
	plan, err := For(Snapshot{Rollout: ro, Old: []*appsv1.ReplicaSet{rs(rollout(3, i1, i1, "v1"), "v1", 0, 1, 3, 3)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.RollsForward).To(BeFalse())
	g.Expect(plan.CreateNew).To(BeNil(), "a paused Rollout starts no new revision")
	g.Expect(sizes(plan.Scale)).To(Equal([]string{"web-v1 3→5"}))
}

func TestProportionalScalingMidRollout(t *testing.T) {
	g := NewWithT(t)
	// Rolled out at 10 replicas (25%/25%: max 13) to old 8 + new 5; replicas becomes 20.
	before := rollout(10, p25, p25, "v2")
	ro := rollout(20, p25, p25, "v2")
	old := rs(before, "v1", 0, 1, 8, 8)
	newRS := rs(before, "v2", 1, 2, 5, 3)
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

func TestHistoryIsPrunedOnlyWhenComplete(t *testing.T) {
	g := NewWithT(t)
	ro := rollout(2, i1, i1, "v4")
	ro.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	ro.Status = stepwisev1alpha1.RolloutStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}
	olds := []*appsv1.ReplicaSet{rs(ro, "v1", 0, 1, 0, 0), rs(ro, "v2", 1, 2, 0, 0), rs(ro, "v3", 2, 3, 0, 0)}
	plan, err := For(Snapshot{Rollout: ro, New: rs(ro, "v4", 3, 4, 2, 2), Old: olds})
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
			ro.Spec.Strategy.RollingUpdate = &stepwisev1alpha1.RollingUpdateRollout{MaxSurge: &i0, MaxUnavailable: &p0}
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
		{"partition over 100%", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy.RollingUpdate.Partition = ptr.To(intstr.FromString("150%"))
		}, "spec.strategy.rollingUpdate.partition"},
		{"negative step", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy.RollingUpdate.Steps = []stepwisev1alpha1.CanaryStep{{Replicas: i1}, {Replicas: intstr.FromInt32(-1)}}
		}, "spec.strategy.rollingUpdate.steps[1].replicas"},
		{"negative pause", func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Strategy.RollingUpdate.Steps = []stepwisev1alpha1.CanaryStep{{Replicas: i1, Pause: &stepwisev1alpha1.CanaryPause{DurationSeconds: ptr.To[int32](-5)}}}
		}, "spec.strategy.rollingUpdate.steps[0].pause.durationSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ro := rollout(3, i1, i1, "v1")
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
		surge, unavailable intstr.IntOrString
		desired            int32
		wantS, wantU       int32
	}{
		{p25, p25, 10, 3, 2},
		{i1, i1, 3, 1, 1},
		{p25, p25, 1, 1, 0},
		{i0, intstr.FromString("10%"), 3, 0, 1},
		{i0, intstr.FromInt32(5), 2, 0, 2},
		{p100, p0, 10, 10, 0},
		{i3, i2, 25, 3, 2},
		{p25, p25, 0, 0, 0},
	} {
		s, u, err := ResolveFenceposts(&tc.surge, &tc.unavailable, tc.desired)
		if err != nil || s != tc.wantS || u != tc.wantU {
			t.Errorf("ResolveFenceposts(%s, %s, %d) = %d, %d, %v; want %d, %d", tc.surge.String(), tc.unavailable.String(), tc.desired, s, u, err, tc.wantS, tc.wantU)
		}
	}
}
