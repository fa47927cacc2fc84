package revision

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// web is the Rollout the ReplicaSets below belong to.
var web = testutil.Rollout("web").Obj()

func TestEqualIgnoreHashAppliesServerDefaults(t *testing.T) {
	g := NewWithT(t)
	written := testutil.Rollout("web").Obj().Spec.Template
	written.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}}
	written.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
	written.Spec.Volumes = []corev1.Volume{{Name: "scratch"}, {Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}}

	defaulted := written.DeepCopy()
	defaulted.Labels[stepwisev1alpha1.PodTemplateHashLabel] = "abc"
	defaultPodSpec(&defaulted.Spec)
	g.Expect(defaulted.Spec.Containers[0].ImagePullPolicy).To(Equal(corev1.PullIfNotPresent))
	g.Expect(defaulted.Spec.Containers[0].ReadinessProbe.PeriodSeconds).To(Equal(int32(10)))
	g.Expect(defaulted.Spec.Volumes[0].EmptyDir).NotTo(BeNil())
	g.Expect(EqualIgnoreHash(&written, defaulted)).To(BeTrue())

	changed := defaulted.DeepCopy()
	changed.Spec.Containers[0].Image = "app:v2"
	g.Expect(EqualIgnoreHash(&written, changed)).To(BeFalse())
	// Turning a field back to its default is a change too.
	explicit := written.DeepCopy()
	explicit.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	g.Expect(EqualIgnoreHash(explicit, defaulted)).To(BeFalse())
}

func TestImageTag(t *testing.T) {
	for image, want := range map[string]string{
		"nginx": "latest", "nginx:1.27": "1.27", "registry:5000/nginx": "latest", "registry:5000/nginx:v1": "v1",
		"nginx@sha256:abc": "", "nginx:latest@sha256:abc": "latest",
	} {
		if got := imageTag(image); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestComputeHashIsStableAndSalted(t *testing.T) {
	g := NewWithT(t)
	a, b := testutil.Rollout("web").Obj().Spec.Template, testutil.Rollout("web").Obj().Spec.Template
	g.Expect(ComputeHash(&a, nil)).To(Equal(ComputeHash(&b, nil)))
	g.Expect(ComputeHash(&a, ptr.To[int32](1))).NotTo(Equal(ComputeHash(&a, nil)))
	c := testutil.Rollout("web").Image("app:v2").Obj().Spec.Template
	g.Expect(ComputeHash(&c, nil)).NotTo(Equal(ComputeHash(&a, nil)))
	g.Expect(ComputeHash(&a, nil)).To(MatchRegexp(`^[bcdfghjklmnpqrstvwxz2456789]+$`))
}

func TestSetNewReplicaSetAnnotationsKeepsHistory(t *testing.T) {
	g := NewWithT(t)
	rs := testutil.ReplicaSet(web, "v1").Obj()
	g.Expect(SetNewReplicaSetAnnotations(map[string]string{"team": "blue", corev1.LastAppliedConfigAnnotation: "{}"}, rs, 3)).To(BeTrue())
	g.Expect(rs.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.RevisionAnnotation, "3"))
	g.Expect(rs.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.RevisionHistoryAnnotation, "1"))
	g.Expect(rs.Annotations).To(HaveKeyWithValue("team", "blue"))
	g.Expect(rs.Annotations).NotTo(HaveKey(corev1.LastAppliedConfigAnnotation))
	g.Expect(SetNewReplicaSetAnnotations(nil, rs, 5)).To(BeTrue())
	g.Expect(rs.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.RevisionHistoryAnnotation, "1,3"))
	g.Expect(SetNewReplicaSetAnnotations(nil, rs, 5)).To(BeFalse(), "already current")
	g.Expect(SetNewReplicaSetAnnotations(nil, rs, 4)).To(BeFalse(), "revisions never go down")
}

func TestRevisionsCompareAsIntegers(t *testing.T) {
	g := NewWithT(t)
	rss := []*appsv1.ReplicaSet{testutil.ReplicaSet(web, "a").Revision(9).Obj(), testutil.ReplicaSet(web, "b").Revision(10).Obj(), testutil.ReplicaSet(web, "c").Revision(2).Obj()}
	g.Expect(Max(rss)).To(Equal(int64(10)))
	SortByRevision(rss)
	g.Expect([]string{rss[0].Name, rss[1].Name, rss[2].Name}).To(Equal([]string{"web-c", "web-a", "web-b"}))
}

func TestHistoryAndRollback(t *testing.T) {
	g := NewWithT(t)
	ro := testutil.Rollout("web").Image("v3").Obj()
	ro.Annotations = map[string]string{stepwisev1alpha1.ChangeCauseAnnotation: "third", corev1.LastAppliedConfigAnnotation: "{}", stepwisev1alpha1.RollbackRequestAnnotation: "0"}
	rss := []*appsv1.ReplicaSet{
		testutil.ReplicaSet(ro, "v2").Revision(2).Hash("hv2").ChangeCause("second").Obj(),
		testutil.ReplicaSet(ro, "v1").Revision(1).Hash("hv1").ChangeCause("first").Obj(),
		testutil.ReplicaSet(ro, "v3").Revision(3).Hash("hv3").ChangeCause("third").Obj(),
	}
	entries := History(rss)
	g.Expect(entries).To(HaveLen(3))
	g.Expect([]int64{entries[0].Revision, entries[1].Revision, entries[2].Revision}).To(Equal([]int64{1, 2, 3}))
	g.Expect(entries[0].ChangeCause).To(Equal("first"))
	g.Expect(entries[0].Images).To(Equal([]string{"v1"}))
	g.Expect(entries[0].Template.Labels).NotTo(HaveKey(stepwisev1alpha1.PodTemplateHashLabel))

	rb, err := PlanRollback(ro, rss, 0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rb.Revision).To(Equal(int64(2)), "0 means the previous revision")
	g.Expect(rb.Unchanged).To(BeFalse())
	g.Expect(rb.Template.Spec.Containers[0].Image).To(Equal("v2"))
	g.Expect(rb.Template.Labels).NotTo(HaveKey(stepwisev1alpha1.PodTemplateHashLabel))
	g.Expect(rb.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.ChangeCauseAnnotation, "second"))
	g.Expect(rb.Annotations).To(HaveKeyWithValue(corev1.LastAppliedConfigAnnotation, "{}"))
	g.Expect(rb.Annotations).NotTo(HaveKey(stepwisev1alpha1.RollbackRequestAnnotation))

	rb, err = PlanRollback(ro, rss, 3)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rb.Unchanged).To(BeTrue())

	_, err = PlanRollback(ro, rss, 7)
	g.Expect(errors.Is(err, ErrRevisionNotFound)).To(BeTrue())
	_, err = PlanRollback(ro, rss[:1], 0)
	g.Expect(errors.Is(err, ErrNoHistory)).To(BeTrue())
	ro.Spec.Paused = true
	_, err = PlanRollback(ro, rss, 1)
	g.Expect(errors.Is(err, ErrPaused)).To(BeTrue())
}

func TestToPruneKeepsTheNewestAndOnlyEmptyOnes(t *testing.T) {
	g := NewWithT(t)
	rss := []*appsv1.ReplicaSet{
		testutil.ReplicaSet(web, "v1").Revision(1).Obj(),
		testutil.ReplicaSet(web, "v2").Revision(2).Pods(1).Obj(), // busy
		testutil.ReplicaSet(web, "v3").Revision(3).Obj(),
		testutil.ReplicaSet(web, "v4").Revision(4).Obj(),
	}
	var names []string
	for _, rs := range ToPrune(rss, 1) {
		names = append(names, rs.Name)
	}
	g.Expect(names).To(Equal([]string{"web-v1", "web-v3"}))
	g.Expect(ToPrune(rss, 10)).To(BeEmpty())
}
