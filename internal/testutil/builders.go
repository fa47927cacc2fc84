// Package testutil builds test objects shared by the unit and integration tests.
package testutil

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// Rollout is a RollingUpdate Rollout "web" in namespace ns, selecting app=web, running image,
// with Deployment's defaults for the fields it does not set.
func Rollout(ns string, replicas int32, surge, unavailable intstr.IntOrString, image string) *stepwisev1alpha1.Rollout {
	return &stepwisev1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: stepwisev1alpha1.RolloutSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
			},
			Strategy: stepwisev1alpha1.RolloutStrategy{
				Type:          stepwisev1alpha1.RollingUpdateRolloutStrategyType,
				RollingUpdate: &stepwisev1alpha1.RollingUpdateRollout{MaxSurge: &surge, MaxUnavailable: &unavailable},
			},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
}
