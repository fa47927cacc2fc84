package rollout

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

func TestCacheTrimsWhatTheReconcilerNeverReads(t *testing.T) {
	meta := metav1.ObjectMeta{
		Name: "p", Namespace: "ns", UID: "u", ResourceVersion: "7", Labels: map[string]string{"app": "web"},
		Annotations:   map[string]string{"big": "value"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}
	podMeta := *meta.DeepCopy()
	podMeta.OwnerReferences = []metav1.OwnerReference{
		{APIVersion: "v1", Kind: "Node", Name: "n", UID: "n"},
		*metav1.NewControllerRef(&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", UID: "rs"}}, appsv1.SchemeGroupVersion.WithKind("ReplicaSet")),
	}
	got, err := trimPod(&metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: podMeta})
	if err != nil {
		t.Fatal(err)
	}
	pod := got.(*metav1.PartialObjectMetadata)
	if ref := metav1.GetControllerOf(pod); pod.Name != "p" || pod.Namespace != "ns" || pod.ResourceVersion != "7" || pod.Kind != "Pod" || ref == nil || ref.Name != "web-1" {
		t.Errorf("the trimmed pod lost what maps its events to a Rollout: %+v", pod)
	}
	if pod.UID != "" || pod.Labels != nil || pod.Annotations != nil || pod.ManagedFields != nil || len(pod.OwnerReferences) != 1 {
		t.Errorf("the trimmed pod kept what nothing reads: %+v", pod)
	}

	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "v1"}}}}
	replicaSet := func(owner *metav1.OwnerReference) *appsv1.ReplicaSet {
		rs := &appsv1.ReplicaSet{ObjectMeta: *meta.DeepCopy(), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Template: template}}
		if owner != nil {
			rs.OwnerReferences = []metav1.OwnerReference{*owner}
		}
		return rs
	}
	rolloutRef := metav1.NewControllerRef(&stepwisev1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "r"}}, stepwisev1alpha1.GroupVersion.WithKind("Rollout"))
	deploymentRef := metav1.NewControllerRef(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "d"}}, appsv1.SchemeGroupVersion.WithKind("Deployment"))
	for name, tc := range map[string]struct {
		rs    *appsv1.ReplicaSet
		whole bool
	}{
		"a Rollout's":                          {replicaSet(rolloutRef), true},
		"an orphan, which a Rollout may adopt": {replicaSet(nil), true},
		"a Deployment's":                       {replicaSet(deploymentRef), false},
	} {
		got, err := trimForeignReplicaSet(tc.rs.DeepCopy())
		if err != nil {
			t.Fatal(err)
		}
		rs := got.(*appsv1.ReplicaSet)
		if rs.ManagedFields != nil {
			t.Errorf("%s ReplicaSet kept its managedFields", name)
		}
		if kept := rs.Spec.Replicas != nil; kept != tc.whole {
			t.Errorf("%s ReplicaSet: spec kept %v, want %v", name, kept, tc.whole)
		}
		if metav1.GetControllerOf(rs) == nil && tc.rs.OwnerReferences != nil {
			t.Errorf("%s ReplicaSet lost its owner", name)
		}
	}
}

func TestReplicaSetsAreIndexedByTheirController(t *testing.T) {
	rs := func(owner *metav1.OwnerReference) *appsv1.ReplicaSet {
		rs := &appsv1.ReplicaSet{}
		if owner != nil {
			rs.OwnerReferences = []metav1.OwnerReference{*owner}
		}
		return rs
	}
	for name, tc := range map[string]struct {
		rs   *appsv1.ReplicaSet
		keys []string
	}{
		"a Rollout's, by UID": {rs(metav1.NewControllerRef(&stepwisev1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "r"}},
			stepwisev1alpha1.GroupVersion.WithKind("Rollout"))), []string{"r"}},
		"an orphan": {rs(nil), []string{orphanKey}},
		"a Deployment's, by name (the Rollout of that name waits for it)": {rs(metav1.NewControllerRef(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "d"}},
			appsv1.SchemeGroupVersion.WithKind("Deployment"))), []string{"deployment/web"}},
		"another controller's": {rs(&metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Thing", Name: "web", UID: "t", Controller: ptr.To(true)}), nil},
	} {
		if got := indexByController(tc.rs); !slices.Equal(got, tc.keys) {
			t.Errorf("%s: keys %v, want %v", name, got, tc.keys)
		}
	}
}
