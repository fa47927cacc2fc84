package migration

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// The bookkeeping goes from Deployment to Stepwise and back unchanged, and neither side keeps
// a stale copy of the other's numbers.
func TestRevisionAnnotationsRoundTrip(t *testing.T) {
	g := NewWithT(t)
	fromDeployment := map[string]string{
		DeploymentRevisionAnnotation: "5", DeploymentRevisionHistoryAnnotation: "2",
		DeploymentDesiredReplicasAnnotation: "10", DeploymentMaxReplicasAnnotation: "13",
		stepwisev1alpha1.ChangeCauseAnnotation: "v2",
		// From an earlier life under Stepwise: the Deployment's numbers win.
		stepwisev1alpha1.RevisionAnnotation: "1", stepwisev1alpha1.RevisionHistoryAnnotation: "9",
	}
	g.Expect(FromDeployment(fromDeployment)).To(BeTrue())
	g.Expect(fromDeployment).To(Equal(map[string]string{
		stepwisev1alpha1.RevisionAnnotation: "5", stepwisev1alpha1.RevisionHistoryAnnotation: "2",
		stepwisev1alpha1.DesiredReplicasAnnotation: "10", stepwisev1alpha1.MaxReplicasAnnotation: "13",
		stepwisev1alpha1.ChangeCauseAnnotation: "v2",
	}))
	g.Expect(FromDeployment(fromDeployment)).To(BeFalse(), "nothing left to move")

	back := map[string]string{}
	for k, v := range fromDeployment {
		back[k] = v
	}
	delete(back, stepwisev1alpha1.RevisionHistoryAnnotation)
	back[DeploymentRevisionHistoryAnnotation] = "stale"
	g.Expect(ToDeployment(back)).To(BeTrue())
	g.Expect(back).To(HaveKeyWithValue(DeploymentRevisionAnnotation, "5"))
	g.Expect(back).NotTo(HaveKey(DeploymentRevisionHistoryAnnotation), "a history Stepwise no longer has")
	g.Expect(back).To(HaveKeyWithValue(stepwisev1alpha1.RevisionAnnotation, "5"), "kept until the Deployment adopted it")
	g.Expect(ToDeployment(back)).To(BeFalse())

	back[stepwisev1alpha1.MigratedFromAnnotation] = "{}"
	g.Expect(StripStepwise(back)).To(BeTrue())
	g.Expect(back).To(Equal(map[string]string{
		DeploymentRevisionAnnotation: "5", DeploymentDesiredReplicasAnnotation: "10", DeploymentMaxReplicasAnnotation: "13",
		stepwisev1alpha1.ChangeCauseAnnotation: "v2",
	}))

	g.Expect(FromDeployment(map[string]string{stepwisev1alpha1.RevisionAnnotation: "3"})).To(BeFalse(), "a Stepwise ReplicaSet keeps its numbers")
}

func deployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "d-uid", Labels: map[string]string{"team": "a"}, Annotations: map[string]string{
			stepwisev1alpha1.ChangeCauseAnnotation: "v3", DeploymentRevisionAnnotation: "3",
			corev1.LastAppliedConfigAnnotation: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}`,
		}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](10),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:3"}}},
			},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: ptr.To(intstr.FromString("30%")), MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			}},
			MinReadySeconds: 2, RevisionHistoryLimit: ptr.To[int32](4), ProgressDeadlineSeconds: ptr.To[int32](90),
			Paused: true,
		},
	}
}

func TestADeploymentBecomesAPausedRolloutAndBack(t *testing.T) {
	g := NewWithT(t)
	d := deployment()
	ro, err := Rollout(d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ro.Name).To(Equal("web"))
	g.Expect(ro.Labels).To(Equal(d.Labels))
	g.Expect(ro.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.ChangeCauseAnnotation, "v3"))
	g.Expect(ro.Annotations).NotTo(HaveKey(DeploymentRevisionAnnotation), "the controller numbers the Rollout")
	g.Expect(ro.Annotations[corev1.LastAppliedConfigAnnotation]).To(MatchJSON(`{"apiVersion":"stepwise.dev/v1alpha1","kind":"Rollout","metadata":{"name":"web"}}`))
	g.Expect(ro.Spec.Paused).To(BeTrue(), "created paused")
	source, ok, err := SourceOf(ro.Annotations)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
	g.Expect(source).To(Equal(Source{Kind: "Deployment", UID: "d-uid", Paused: true}))
	g.Expect(ro.Spec.Replicas).To(Equal(d.Spec.Replicas))
	g.Expect(ro.Spec.Strategy.RollingUpdate.MaxSurge).To(Equal(d.Spec.Strategy.RollingUpdate.MaxSurge))
	g.Expect(ro.Spec.MinReadySeconds).To(Equal(int32(2)))
	g.Expect(*ro.Spec.RevisionHistoryLimit).To(Equal(int32(4)))
	g.Expect(*ro.Spec.ProgressDeadlineSeconds).To(Equal(int32(90)))

	// Back: the template is the current ReplicaSet's, whatever its hash.
	ro.UID = "ro-uid"
	ro.Spec.Paused = false
	ro.Annotations[stepwisev1alpha1.RevisionAnnotation] = "4"
	current := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: *d.Spec.Template.DeepCopy()}}
	current.Spec.Template.Labels["pod-template-hash"] = "abc"
	current.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst // defaulted by the API server
	back, err := Deployment(ro, current)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(back.Spec.Template.Labels).To(Equal(map[string]string{"app": "web"}))
	g.Expect(back.Spec.Template.Spec.DNSPolicy).To(Equal(corev1.DNSClusterFirst))
	g.Expect(back.Spec.Paused).To(BeTrue(), "created paused")
	g.Expect(back.Annotations).NotTo(HaveKey(stepwisev1alpha1.RevisionAnnotation))
	g.Expect(back.Annotations).NotTo(HaveKey(DeploymentRevisionAnnotation))
	source, _, _ = SourceOf(back.Annotations)
	g.Expect(source).To(Equal(Source{Kind: "Rollout", UID: "ro-uid", Paused: false}))
	back.Spec.Template, back.Spec.Paused = d.Spec.Template, d.Spec.Paused
	g.Expect(back.Spec).To(Equal(d.Spec))
}

func TestWhatADeploymentCannotExpressIsNamed(t *testing.T) {
	g := NewWithT(t)
	ro, err := Rollout(deployment())
	g.Expect(err).NotTo(HaveOccurred())
	ro.Spec.Strategy.RollingUpdate.Partition = ptr.To(intstr.FromInt32(2))
	ro.Spec.ProgressGates = []string{"example.com/ok"}
	_, err = Deployment(ro, nil)
	g.Expect(err).To(MatchError("rollout web uses what a Deployment cannot express: spec.progressGates, spec.strategy.rollingUpdate.partition; remove it from the Rollout first"))

	ro, _ = Rollout(deployment())
	ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.BlueGreenRolloutStrategyType, BlueGreen: &stepwisev1alpha1.BlueGreenStrategy{ActiveService: "web"}}
	_, err = Deployment(ro, nil)
	g.Expect(err).To(MatchError(ContainSubstring("cannot express: spec.strategy.blueGreen;")))
}

func TestOverlap(t *testing.T) {
	g := NewWithT(t)
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	webCanary := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "track": "canary"}}
	g.Expect(Overlap(web, map[string]string{"app": "web"}, webCanary, map[string]string{"app": "web", "track": "canary"})).To(BeTrue(), "web selects the canary's pods")
	g.Expect(Overlap(webCanary, map[string]string{"app": "web", "track": "canary"}, &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}, map[string]string{"app": "api"})).To(BeFalse())
	g.Expect(Overlap(&metav1.LabelSelector{}, nil, web, map[string]string{"app": "web"})).To(BeFalse(), "an empty selector is invalid for both, not everything")
}

func TestDeploymentSettled(t *testing.T) {
	g := NewWithT(t)
	d := deployment()
	d.Generation = 2
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 10, UpdatedReplicas: 10, AvailableReplicas: 10}
	settled, _ := DeploymentSettled(d)
	g.Expect(settled).To(BeTrue())
	for _, tc := range []struct {
		status appsv1.DeploymentStatus
		why    string
	}{
		{appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 10, UpdatedReplicas: 10, AvailableReplicas: 10}, "has not yet observed its latest spec"},
		{appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 12, UpdatedReplicas: 7, AvailableReplicas: 10}, "7 of 10 pods run the latest template"},
		{appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 12, UpdatedReplicas: 10, AvailableReplicas: 10}, "2 pods of older revisions remain"},
		{appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 10, UpdatedReplicas: 10, AvailableReplicas: 8}, "8 of 10 updated pods are available"},
	} {
		d.Status = tc.status
		settled, why := DeploymentSettled(d)
		g.Expect(settled).To(BeFalse())
		g.Expect(why).To(ContainSubstring(tc.why))
	}
}
