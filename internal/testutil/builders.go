// Package testutil builds the Rollouts and ReplicaSets that tests start from, in the style of
// the Kubernetes scheduler's test wrappers: a constructor with the common defaults, one setter
// per field a test varies, and Obj to take the object.
//
//	ro := testutil.Rollout("web").Replicas(10).Surge("25%").Unavailable("0").Image("v2").Obj()
//	old := testutil.ReplicaSet(ro, "v1").Revision(1).Replicas(10).Available(10).Obj()
//
// It imports only the API, so every package's own tests may use it.
package testutil

import (
	"fmt"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// Epoch is when test objects are created: revision n's ReplicaSet n minutes after it.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// RolloutBuilder builds a Rollout; each setter changes it and returns the builder.
type RolloutBuilder struct{ ro *stepwisev1alpha1.Rollout }

// Rollout starts a Rollout as the API server stores it (a UID, generation 1), its pods
// labelled app=<name> with one container <name> running image "app:v1", with Deployment's
// defaults: 1 replica, RollingUpdate with maxSurge and maxUnavailable 25%,
// revisionHistoryLimit 10, progressDeadlineSeconds 600.
func Rollout(name string) *RolloutBuilder {
	return &RolloutBuilder{ro: &stepwisev1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Generation: 1},
		Spec: stepwisev1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "app:v1"}}},
			},
			Strategy: stepwisev1alpha1.RolloutStrategy{
				Type: stepwisev1alpha1.RollingUpdateRolloutStrategyType,
				RollingUpdate: &stepwisev1alpha1.RollingUpdateRollout{
					MaxSurge: ptr.To(intstr.FromString("25%")), MaxUnavailable: ptr.To(intstr.FromString("25%"))},
			},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}}
}

// Obj is the Rollout built so far (not a copy).
func (b *RolloutBuilder) Obj() *stepwisev1alpha1.Rollout { return b.ro }

func (b *RolloutBuilder) Namespace(ns string) *RolloutBuilder {
	b.ro.Namespace = ns
	return b
}

func (b *RolloutBuilder) Generation(generation int64) *RolloutBuilder {
	b.ro.Generation = generation
	return b
}

func (b *RolloutBuilder) Replicas(n int32) *RolloutBuilder {
	b.ro.Spec.Replicas = ptr.To(n)
	return b
}

// Image sets the first container's image.
func (b *RolloutBuilder) Image(image string) *RolloutBuilder {
	b.ro.Spec.Template.Spec.Containers[0].Image = image
	return b
}

// Surge sets maxSurge as written in YAML: "1" is a count, "25%" a percentage.
func (b *RolloutBuilder) Surge(value string) *RolloutBuilder {
	b.rollingUpdate().MaxSurge = ptr.To(intstr.Parse(value))
	return b
}

// Unavailable sets maxUnavailable as written in YAML: "1" is a count, "25%" a percentage.
func (b *RolloutBuilder) Unavailable(value string) *RolloutBuilder {
	b.rollingUpdate().MaxUnavailable = ptr.To(intstr.Parse(value))
	return b
}

// Partition sets the pods kept on old revisions: "3" is a count, "25%" a percentage.
func (b *RolloutBuilder) Partition(value string) *RolloutBuilder {
	b.rollingUpdate().Partition = ptr.To(intstr.Parse(value))
	return b
}

// Steps sets the canary steps.
func (b *RolloutBuilder) Steps(steps ...stepwisev1alpha1.CanaryStep) *RolloutBuilder {
	b.rollingUpdate().Steps = steps
	return b
}

func (b *RolloutBuilder) rollingUpdate() *stepwisev1alpha1.RollingUpdateRollout {
	if b.ro.Spec.Strategy.RollingUpdate == nil {
		b.ro.Spec.Strategy.RollingUpdate = &stepwisev1alpha1.RollingUpdateRollout{}
	}
	return b.ro.Spec.Strategy.RollingUpdate
}

// Recreate switches to the Recreate strategy.
func (b *RolloutBuilder) Recreate() *RolloutBuilder {
	b.ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.RecreateRolloutStrategyType}
	return b
}

// BlueGreen switches to the BlueGreen strategy.
func (b *RolloutBuilder) BlueGreen(bg stepwisev1alpha1.BlueGreenStrategy) *RolloutBuilder {
	b.ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.BlueGreenRolloutStrategyType, BlueGreen: &bg}
	return b
}

func (b *RolloutBuilder) Paused() *RolloutBuilder {
	b.ro.Spec.Paused = true
	return b
}

func (b *RolloutBuilder) ProgressDeadline(seconds int32) *RolloutBuilder {
	b.ro.Spec.ProgressDeadlineSeconds = ptr.To(seconds)
	return b
}

// ReplicaSetBuilder builds a ReplicaSet owned by a Rollout; each setter changes it and returns
// the builder.
type ReplicaSetBuilder struct{ rs *appsv1.ReplicaSet }

// ReplicaSet starts a ReplicaSet controlled by ro, running ro's template with image, named after
// ro and the image ("web" and "app:v2" → "web-appv2"), at revision 1, with no pods, its
// generation 1 observed.
func ReplicaSet(ro *stepwisev1alpha1.Rollout, image string) *ReplicaSetBuilder {
	template := ro.Spec.Template.DeepCopy()
	template.Spec.Containers[0].Image = image
	name := ro.Name + "-" + imageSuffix.Replace(image)
	b := &ReplicaSetBuilder{rs: &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ro.Namespace, UID: types.UID("uid-" + name), Generation: 1,
			Labels:          maps.Clone(template.Labels),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, stepwisev1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: ro.Spec.Selector.DeepCopy(), Template: *template},
		Status: appsv1.ReplicaSetStatus{ObservedGeneration: 1, TerminatingReplicas: ptr.To[int32](0)},
	}}
	return b.Revision(1)
}

// imageSuffix turns an image into a name suffix ("app:v2" → "appv2").
var imageSuffix = strings.NewReplacer(":", "", ".", "", "/", "", "@", "")

// Obj is the ReplicaSet built so far (not a copy).
func (b *ReplicaSetBuilder) Obj() *appsv1.ReplicaSet { return b.rs }

// Revision sets the revision annotation, and the creation time n minutes after Epoch, so
// ReplicaSets sort by age as by revision.
func (b *ReplicaSetBuilder) Revision(n int64) *ReplicaSetBuilder {
	b.annotate(stepwisev1alpha1.RevisionAnnotation, fmt.Sprint(n))
	b.rs.CreationTimestamp = metav1.NewTime(Epoch.Add(time.Duration(n) * time.Minute))
	return b
}

// Hash sets the pod-template-hash label on the ReplicaSet, its selector and its template.
func (b *ReplicaSetBuilder) Hash(hash string) *ReplicaSetBuilder {
	b.rs.Labels[stepwisev1alpha1.PodTemplateHashLabel] = hash
	b.rs.Spec.Selector.MatchLabels[stepwisev1alpha1.PodTemplateHashLabel] = hash
	b.rs.Spec.Template.Labels[stepwisev1alpha1.PodTemplateHashLabel] = hash
	return b
}

func (b *ReplicaSetBuilder) ChangeCause(cause string) *ReplicaSetBuilder {
	b.annotate(stepwisev1alpha1.ChangeCauseAnnotation, cause)
	return b
}

// LastScaledFor records the Rollout size the ReplicaSet was last scaled for (replicas, and
// replicas + maxSurge), as the controller's scale steps do.
func (b *ReplicaSetBuilder) LastScaledFor(replicas, maxReplicas int32) *ReplicaSetBuilder {
	b.annotate(stepwisev1alpha1.DesiredReplicasAnnotation, fmt.Sprint(replicas))
	b.annotate(stepwisev1alpha1.MaxReplicasAnnotation, fmt.Sprint(maxReplicas))
	return b
}

func (b *ReplicaSetBuilder) annotate(key, value string) {
	if b.rs.Annotations == nil {
		b.rs.Annotations = map[string]string{}
	}
	b.rs.Annotations[key] = value
}

// Replicas sets the desired size, and the pods to as many (the ReplicaSet controller caught up).
func (b *ReplicaSetBuilder) Replicas(n int32) *ReplicaSetBuilder {
	b.rs.Spec.Replicas = ptr.To(n)
	b.rs.Status.Replicas = n
	return b
}

// Pods sets the pods that exist (status.replicas).
func (b *ReplicaSetBuilder) Pods(n int32) *ReplicaSetBuilder {
	b.rs.Status.Replicas = n
	return b
}

// Available sets the ready and available pods.
func (b *ReplicaSetBuilder) Available(n int32) *ReplicaSetBuilder {
	b.rs.Status.ReadyReplicas, b.rs.Status.AvailableReplicas = n, n
	return b
}

func (b *ReplicaSetBuilder) Terminating(n int32) *ReplicaSetBuilder {
	b.rs.Status.TerminatingReplicas = ptr.To(n)
	return b
}

// Generation sets the ReplicaSet's generation and the one its controller observed.
func (b *ReplicaSetBuilder) Generation(generation, observed int64) *ReplicaSetBuilder {
	b.rs.Generation, b.rs.Status.ObservedGeneration = generation, observed
	return b
}
