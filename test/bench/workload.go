package bench

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// Controller names a rollout controller under test.
type Controller string

const (
	Deployment Controller = "deployment"
	Stepwise   Controller = "stepwise"
)

// StepwiseWith is Stepwise rolling Rollouts that set podReplacementPolicy, to compare a policy
// with the default side by side.
func StepwiseWith(policy stepwisev1alpha1.PodReplacementPolicy) Controller {
	return Controller("stepwise-" + strings.ToLower(string(policy)))
}

// policy is the podReplacementPolicy ctrl's Rollouts set ("" for the default).
func (ctrl Controller) policy() stepwisev1alpha1.PodReplacementPolicy {
	for _, p := range []stepwisev1alpha1.PodReplacementPolicy{stepwisev1alpha1.PodReplacementPolicyTerminationStarted,
		stepwisev1alpha1.PodReplacementPolicyTerminationComplete, stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes} {
		if ctrl == StepwiseWith(p) {
			return p
		}
	}
	return ""
}

// client is the API client (user agent) of ctrl's writes.
func (ctrl Controller) client() string {
	if ctrl == Deployment {
		return "deployment-controller"
	}
	return stepwiseClient
}

const (
	oldImage = "bench:v1"
	newImage = "bench:v2"
	// readyDelayAnnotation makes kwok mark a pod Ready after this long (test/cluster/stages.yaml).
	readyDelayAnnotation = "pod-ready.stage.kwok.x-k8s.io/delay"
)

// changeImage is the template change of every case, the same JSON patch for both kinds.
var changeImage = []byte(`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"` + newImage + `"}]`)

func podTemplate(name string, delay time.Duration) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{groupLabel: name},
			Annotations: map[string]string{readyDelayAnnotation: delay.String()},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: oldImage}}},
	}
}

// workload is rollout name of case c, as a Deployment or as the same spec in a Rollout.
func workload(ctrl Controller, ns, name string, c Case) client.Object {
	meta := metav1.ObjectMeta{Name: name, Namespace: ns}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{groupLabel: name}}
	if ctrl == Deployment {
		return &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(c.Replicas), Selector: selector, Template: podTemplate(name, c.ReadyDelay),
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &c.MaxSurge, MaxUnavailable: &c.MaxUnavailable},
			},
		}}
	}
	return &stepwisev1alpha1.Rollout{ObjectMeta: meta, Spec: stepwisev1alpha1.RolloutSpec{
		Replicas: ptr.To(c.Replicas), Selector: selector, Template: podTemplate(name, c.ReadyDelay),
		PodReplacementPolicy: ctrl.policy(),
		Strategy: stepwisev1alpha1.RolloutStrategy{
			Type:          stepwisev1alpha1.RollingUpdateRolloutStrategyType,
			RollingUpdate: &stepwisev1alpha1.RollingUpdateRollout{MaxSurge: &c.MaxSurge, MaxUnavailable: &c.MaxUnavailable},
		},
	}}
}

// empty returns an object of ctrl's kind to read into.
func empty(ctrl Controller) client.Object {
	if ctrl == Deployment {
		return &appsv1.Deployment{}
	}
	return &stepwisev1alpha1.Rollout{}
}

// reportsComplete reports whether a workload's own status says its rollout is done, which
// both controllers write last.
func reportsComplete(obj client.Object, replicas int32) (bool, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		s := o.Status
		return s.ObservedGeneration >= o.Generation && s.UpdatedReplicas == replicas && s.Replicas == replicas && s.AvailableReplicas == replicas, nil
	case *stepwisev1alpha1.Rollout:
		s := o.Status
		return s.ObservedGeneration >= o.Generation && s.UpdatedReplicas == replicas && s.Replicas == replicas && s.AvailableReplicas == replicas, nil
	}
	return false, fmt.Errorf("not a workload: %T", obj)
}
