package revision

import (
	"errors"
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
)

func template(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
	}
}

func replicaSet(image string, revision int64, cause string) *appsv1.ReplicaSet {
	t := template(image)
	t.Labels[stepwisev1alpha1.PodTemplateHashLabel] = "h" + image
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:              "web-" + image,
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, int(revision), 0, 0, time.UTC)),
			Annotations: map[string]string{
				stepwisev1alpha1.RevisionAnnotation:    fmt.Sprint(revision),
				stepwisev1alpha1.ChangeCauseAnnotation: cause,
			},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Template: t},
	}
}

func TestEqualIgnoreHashAppliesServerDefaults(t *testing.T) {
	g := NewWithT(t)
	written := template("app:v1")
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
	a, b := template("app:v1"), template("app:v1")
	g.Expect(ComputeHash(&a, nil)).To(Equal(ComputeHash(&b, nil)))
	g.Expect(ComputeHash(&a, ptr.To[int32](1))).NotTo(Equal(ComputeHash(&a, nil)))
	c := template("app:v2")
	g.Expect(ComputeHash(&c, nil)).NotTo(Equal(ComputeHash(&a, nil)))
	g.Expect(ComputeHash(&a, nil)).To(MatchRegexp(`^[bcdfghjklmnpqrstvwxz2456789]+$`))
}

func TestSetNewReplicaSetAnnotationsKeepsHistory(t *testing.T) {
	g := NewWithT(t)
	rs := replicaSet("v1", 1, "")
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
	rss := []*appsv1.ReplicaSet{replicaSet("a", 9, ""), replicaSet("b", 10, ""), replicaSet("c", 2, "")}
	g.Expect(Max(rss)).To(Equal(int64(10)))
	SortByRevision(rss)
	g.Expect([]string{rss[0].Name, rss[1].Name, rss[2].Name}).To(Equal([]string{"web-c", "web-a", "web-b"}))
}

func TestHistoryAndRollback(t *testing.T) {
	g := NewWithT(t)
	rss := []*appsv1.ReplicaSet{replicaSet("v2", 2, "second"), replicaSet("v1", 1, "first"), replicaSet("v3", 3, "third")}
	entries := History(rss)
	g.Expect(entries).To(HaveLen(3))
	g.Expect([]int64{entries[0].Revision, entries[1].Revision, entries[2].Revision}).To(Equal([]int64{1, 2, 3}))
	g.Expect(entries[0].ChangeCause).To(Equal("first"))
	g.Expect(entries[0].Images).To(Equal([]string{"v1"}))
	g.Expect(entries[0].Template.Labels).NotTo(HaveKey(stepwisev1alpha1.PodTemplateHashLabel))

	ro := &stepwisev1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{
		stepwisev1alpha1.ChangeCauseAnnotation: "third", corev1.LastAppliedConfigAnnotation: "{}", stepwisev1alpha1.RollbackRequestAnnotation: "0"}},
		Spec: stepwisev1alpha1.RolloutSpec{Template: template("v3")}}
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
	busy := replicaSet("v2", 2, "")
	busy.Status.Replicas = 1
	rss := []*appsv1.ReplicaSet{replicaSet("v1", 1, ""), busy, replicaSet("v3", 3, ""), replicaSet("v4", 4, "")}
	var names []string
	for _, rs := range ToPrune(rss, 1) {
		names = append(names, rs.Name)
	}
	g.Expect(names).To(Equal([]string{"web-v1", "web-v3"}))
	g.Expect(ToPrune(rss, 10)).To(BeEmpty())
}
