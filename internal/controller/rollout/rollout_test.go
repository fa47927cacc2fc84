package rollout_test

import (
	"cmp"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/test/observe"
)

var (
	one        = intstr.FromInt32(1)
	zero       = intstr.FromInt32(0)
	quarter    = intstr.FromString("25%")
	neverReady = map[string]string{"stepwise.dev/never-ready": "true"}
)

// The hellok8s story: v1 → v2 with 3 replicas, maxSurge 1, maxUnavailable 1: never more than 4
// pods, never fewer than 2 available, ending with 3 v2 pods and v1 at 0.
func TestHellok8sStory(t *testing.T) {
	e := newEnv(t)
	e.Settle(e.newRollout(3, one, one, "guangzhengli/hellok8s:v1"), observe.Bounds{MaxReplicas: 4, MinAvailable: 2})

	e.SetImage("web", "guangzhengli/hellok8s:v2")
	ro := e.WaitComplete("web")
	e.G.Expect(ro.Status.CurrentRevision).To(Equal(int64(2)))
	v2, v1 := e.replicaSetFor("guangzhengli/hellok8s:v2"), e.replicaSetFor("guangzhengli/hellok8s:v1")
	e.G.Expect(*v2.Spec.Replicas).To(Equal(int32(3)))
	e.G.Expect(*v1.Spec.Replicas).To(BeZero())
	e.G.Eventually(func() int32 { return e.Obs.Current().ReplicaSets[indexOf(e.Obs.Current(), v1.Name)].Pods }).Should(BeZero())
	e.G.Expect(v2.Name).To(Equal("web-" + v2.Labels[stepwisev1alpha1.PodTemplateHashLabel]))
	e.G.Expect(v2.Spec.Selector.MatchLabels).To(HaveKey(stepwisev1alpha1.PodTemplateHashLabel))
	e.G.Expect(v2.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.RevisionAnnotation, "2"))
	e.G.Expect(metav1.IsControlledBy(&v2, ro)).To(BeTrue())
	e.G.Expect(e.events()).To(ContainElement("Scaled up replica set " + v2.Name + " to 1"))
	e.G.Expect(e.events()).To(ContainElement("Scaled down replica set " + v1.Name + " to 2"))
	e.ExpectNoViolations()
}

func indexOf(st observe.State, name string) int {
	for i, rs := range st.ReplicaSets {
		if rs.Name == name {
			return i
		}
	}
	return -1
}

// A version whose pods never become ready stalls with the old pods serving, times out after
// progressDeadlineSeconds, and resumes when the template is fixed.
func TestBadVersionStallsUntilFixed(t *testing.T) {
	e := newEnv(t)
	ro := e.newRollout(3, one, one, "app:v1")
	ro.Spec.ProgressDeadlineSeconds = ptr.To[int32](3)
	e.Settle(ro, observe.Bounds{MaxReplicas: 4, MinAvailable: 2})

	e.setNeverReadyImage("web", "app:bad")
	e.G.Eventually(func(g Gomega) {
		cond := meta.FindStatusCondition(e.Get("web").Status.Conditions, stepwisev1alpha1.ConditionProgressing)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonProgressDeadlineExceeded))
	}).Should(Succeed())
	// Stalled: at least 2 v1 pods serve, the bad pods never became ready.
	st := e.Obs.Current()
	for _, rs := range st.ReplicaSets {
		switch rs.Image {
		case "app:v1":
			e.G.Expect(rs.Ready).To(BeNumerically(">=", 2))
		case "app:bad":
			e.G.Expect(rs.Ready).To(BeZero())
		}
	}
	e.G.Expect(meta.FindStatusCondition(e.Get("web").Status.Conditions, stepwisev1alpha1.ConditionAvailable).Status).To(Equal(metav1.ConditionTrue))

	e.setHealthyImage("web", "app:v3")
	e.WaitComplete("web")
	e.ExpectNoViolations()
}

// Recreate never runs old and new pods at the same time, even while old pods terminate slowly.
func TestRecreateNeverOverlaps(t *testing.T) {
	e := newEnv(t)
	ro := e.newRollout(3, one, one, "app:v1")
	ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.RecreateRolloutStrategyType}
	setTerminationDelay(ro, "2s")
	e.Settle(ro, observe.Bounds{MaxReplicas: 3, Exclusive: true})

	e.SetImage("web", "app:v2")
	e.WaitComplete("web")
	e.G.Expect(*e.replicaSetFor("app:v2").Spec.Replicas).To(Equal(int32(3)))
	e.ExpectNoViolations()
}

// minReadySeconds: a new pod counts only after being ready that long, so no old pod goes
// before then; the ReplicaSets carry it too.
func TestMinReadySecondsDelaysProgress(t *testing.T) {
	e := newEnv(t)
	ro := e.newRollout(2, one, zero, "app:v1")
	ro.Spec.MinReadySeconds = 3
	e.Settle(ro, observe.Bounds{MaxReplicas: 3, MinAvailable: 2})

	e.SetImage("web", "app:v2")
	e.WaitComplete("web")
	v2 := e.replicaSetFor("app:v2")
	e.G.Expect(v2.Spec.MinReadySeconds).To(Equal(int32(3)))

	// The first old pod went only after a new pod had been ready for minReadySeconds, counted
	// as the controllers count it: from the pod's Ready condition, whose time the API server
	// keeps in whole seconds. (An observer's own time of the first Ready lags by a watch's
	// delivery, so it cannot bound the wait.)
	var firstNewReady, firstOldScaleDown time.Time
	pods := &corev1.PodList{}
	e.G.Expect(e.Client.List(e.Ctx, pods, client.InNamespace(e.NS), client.MatchingLabels{stepwisev1alpha1.PodTemplateHashLabel: v2.Labels[stepwisev1alpha1.PodTemplateHashLabel]})).To(Succeed())
	for _, pod := range pods.Items {
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && (firstNewReady.IsZero() || c.LastTransitionTime.Before(&metav1.Time{Time: firstNewReady})) {
				firstNewReady = c.LastTransitionTime.Time
			}
		}
	}
	for _, st := range e.Obs.States() {
		for _, rs := range st.ReplicaSets {
			if rs.Image == "app:v1" && rs.Desired < 2 && firstOldScaleDown.IsZero() {
				firstOldScaleDown = st.At
			}
		}
	}
	e.G.Expect(firstNewReady).NotTo(BeZero())
	e.G.Expect(firstOldScaleDown.Sub(firstNewReady)).To(BeNumerically(">=", 3*time.Second))
	e.ExpectNoViolations()
}

// Paused: no rollout progress (no new ReplicaSet), scaling still applies; resume finishes.
func TestPauseAndResume(t *testing.T) {
	e := newEnv(t)
	e.Create(e.newRollout(2, one, one, "app:v1"))
	e.WaitComplete("web")

	e.Update("web", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Paused = true })
	e.G.Eventually(func() string {
		cond := meta.FindStatusCondition(e.Get("web").Status.Conditions, stepwisev1alpha1.ConditionProgressing)
		return cond.Reason + "/" + string(cond.Status)
	}).Should(Equal(stepwisev1alpha1.ReasonRolloutPaused + "/Unknown"))
	e.Update("web", func(ro *stepwisev1alpha1.Rollout) {
		ro.Spec.Template.Spec.Containers[0].Image = "app:v2"
		ro.Spec.Replicas = ptr.To[int32](4)
	})
	e.G.Eventually(func() int32 { return *e.replicaSetFor("app:v1").Spec.Replicas }).Should(Equal(int32(4)))
	e.G.Consistently(func() int { return len(e.ReplicaSets()) }).Should(Equal(1), "no new ReplicaSet while paused")
	e.G.Eventually(func() int64 { return e.Get("web").Status.ObservedGeneration }).Should(Equal(e.Get("web").Generation))

	e.Update("web", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Paused = false })
	e.WaitComplete("web")
	e.G.Expect(*e.replicaSetFor("app:v2").Spec.Replicas).To(Equal(int32(4)))
	e.G.Expect(*e.replicaSetFor("app:v1").Spec.Replicas).To(BeZero())
}

// Scaling up and down in the middle of a rollout spreads the change in proportion and converges.
func TestScalingMidRollout(t *testing.T) {
	for _, tc := range []struct{ from, to int32 }{{10, 20}, {10, 4}} {
		t.Run(fmt.Sprintf("%d to %d", tc.from, tc.to), func(t *testing.T) {
			e := newEnv(t)
			ro := e.newRollout(tc.from, quarter, quarter, "app:v1")
			metav1.SetMetaDataAnnotation(&ro.Spec.Template.ObjectMeta, "pod-ready.stage.kwok.x-k8s.io/delay", "1s")
			e.Create(ro)
			e.WaitComplete("web")
			high := max(tc.from, tc.to)
			e.Obs.SetBounds(observe.Bounds{MaxReplicas: high + (high+3)/4})

			e.SetImage("web", "app:v2")
			// Mid-rollout: both ReplicaSets have replicas.
			e.G.Eventually(func() bool {
				return len(e.ReplicaSets()) == 2 && *e.replicaSetFor("app:v1").Spec.Replicas > 0 && *e.replicaSetFor("app:v2").Spec.Replicas > 0
			}).Should(BeTrue())
			e.Update("web", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Replicas = ptr.To(tc.to) })
			e.WaitComplete("web")
			e.G.Expect(*e.replicaSetFor("app:v2").Spec.Replicas).To(Equal(tc.to))
			e.G.Expect(*e.replicaSetFor("app:v1").Spec.Replicas).To(BeZero())
			e.ExpectNoViolations()
		})
	}
}

// Orphans that match are adopted (found by template equality even under another hash and
// name); ReplicaSets that stop matching are released; others' ReplicaSets are never touched.
func TestAdoptionAndOrphaning(t *testing.T) {
	e := newEnv(t)
	ro := e.newRollout(2, one, one, "app:v1")
	orphan := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "handmade", Namespace: e.NS, Labels: map[string]string{"app": "web", "pod-template-hash": "oldhash"}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "oldhash"}},
			Template: *ro.Spec.Template.DeepCopy(),
		},
	}
	orphan.Spec.Template.Labels = map[string]string{"app": "web", "pod-template-hash": "oldhash"}
	e.Create(orphan)
	// A ReplicaSet controlled by something else, matching the selector too.
	foreign := orphan.DeepCopy()
	foreign.ObjectMeta = metav1.ObjectMeta{Name: "foreign", Namespace: e.NS}
	foreign.Labels = map[string]string{"app": "web", "pod-template-hash": "foreign"}
	foreign.Spec.Selector.MatchLabels["pod-template-hash"] = "foreign"
	foreign.Spec.Template.Labels = foreign.Labels
	foreign.Spec.Template.Spec.Containers[0].Image = "app:foreign"
	foreign.Spec.Replicas = ptr.To[int32](1)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: e.NS}}
	e.Create(cm)
	foreign.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: cm.UID, Controller: ptr.To(true)}}
	e.Create(foreign)

	e.Create(ro)
	ro = e.WaitComplete("web")
	adopted := &appsv1.ReplicaSet{}
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: "handmade"}, adopted)).To(Succeed())
	e.G.Expect(metav1.IsControlledBy(adopted, ro)).To(BeTrue())
	e.G.Expect(e.ReplicaSets()).To(HaveLen(2), "the adopted ReplicaSet is the current one: no new one")
	e.G.Consistently(func() int32 {
		got := &appsv1.ReplicaSet{}
		e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: "foreign"}, got)).To(Succeed())
		e.G.Expect(metav1.GetControllerOf(got).UID).To(Equal(cm.UID))
		return *got.Spec.Replicas
	}).Should(Equal(int32(1)))

	// The adopted ReplicaSet stops matching the selector: it is released and replaced.
	e.G.Expect(e.Client.Patch(e.Ctx, adopted, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"app":"elsewhere"}}}`)))).To(Succeed())
	e.G.Eventually(func() *metav1.OwnerReference {
		got := &appsv1.ReplicaSet{}
		e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: "handmade"}, got)).To(Succeed())
		return metav1.GetControllerOf(got)
	}).Should(BeNil())
	e.G.Eventually(func(g Gomega) {
		ro := e.Get("web")
		g.Expect(ro.Status.UpdatedReplicas).To(Equal(int32(2)))
		g.Expect(ro.Status.AvailableReplicas).To(Equal(int32(2)))
	}).Should(Succeed())
	e.G.Expect(e.ReplicaSets()).To(HaveLen(3))
}

// A ReplicaSet with the name the Rollout would use but another template is a hash collision:
// collisionCount goes up and the new ReplicaSet gets another name.
func TestHashCollision(t *testing.T) {
	e := newEnv(t)
	ro := e.newRollout(2, one, one, "app:v1")
	hash := revision.ComputeHash(&ro.Spec.Template, nil)
	squatter := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, Namespace: e.NS, Labels: map[string]string{"app": "squatter"}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "squatter"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "squatter"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "other"}}},
			},
		},
	}
	e.Create(squatter)
	e.Create(ro)
	ro = e.WaitComplete("web")
	e.G.Expect(ro.Status.CollisionCount).To(Equal(ptr.To[int32](1)))
	current := e.replicaSetFor("app:v1")
	e.G.Expect(current.Name).NotTo(Equal(squatter.Name))
	e.G.Expect(current.Name).To(Equal("web-" + revision.ComputeHash(&ro.Spec.Template, ptr.To[int32](1))))
}

// revisionHistoryLimit keeps that many old ReplicaSets, deleting the oldest fully scaled-down
// ones; revisions keep counting up.
func TestRevisionHistoryLimitPrunes(t *testing.T) {
	e := newEnv(t)
	ro := e.newRollout(1, one, zero, "app:v1")
	ro.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	e.Create(ro)
	e.WaitComplete("web")
	for _, v := range []string{"v2", "v3", "v4"} {
		e.SetImage("web", "app:"+v)
		e.WaitComplete("web")
	}
	e.G.Eventually(func() []string {
		var names []string
		for _, rs := range e.ReplicaSets() {
			names = append(names, rs.Spec.Template.Spec.Containers[0].Image+"@"+rs.Annotations[stepwisev1alpha1.RevisionAnnotation])
		}
		return names
	}).Should(ConsistOf("app:v3@3", "app:v4@4"))
	e.G.Expect(e.Get("web").Status.CurrentRevision).To(Equal(int64(4)))
}

// A template using fields the API server defaults (probes, ports, resources, volumes, env
// field references) maps to one ReplicaSet that stays current: no ReplicaSet churn.
func TestDefaultedTemplateMakesOneReplicaSet(t *testing.T) {
	e := newEnv(t)
	ro := e.newRollout(2, one, one, "app:v1")
	c := &ro.Spec.Template.Spec.Containers[0]
	c.Ports = []corev1.ContainerPort{{ContainerPort: 80}}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
	c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}}
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
	c.Env = []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
	c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}, {Name: "scratch", MountPath: "/tmp"}}
	ro.Spec.Template.Spec.ServiceAccountName = "default"
	ro.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
	ro.Spec.Template.Spec.Volumes = []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
		{Name: "scratch"},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
		{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}},
	}
	e.Create(ro)
	e.WaitComplete("web")
	e.G.Expect(e.ReplicaSets()).To(HaveLen(1))
	// More reconciles (an annotation change, a resize) still find the same ReplicaSet.
	e.Update("web", func(ro *stepwisev1alpha1.Rollout) { ro.Annotations = map[string]string{"touched": "yes"} })
	e.Update("web", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Replicas = ptr.To[int32](3) })
	e.WaitComplete("web")
	e.G.Consistently(func() int { return len(e.ReplicaSets()) }).Should(Equal(1))
	e.G.Expect(e.ReplicaSets()[0].Annotations).To(HaveKeyWithValue("touched", "yes"))
}

// The change cause and the Rollout's other annotations are copied to the new ReplicaSet.
func TestChangeCauseIsCopied(t *testing.T) {
	e := newEnv(t)
	ro := e.newRollout(1, one, zero, "app:v1")
	ro.Annotations = map[string]string{stepwisev1alpha1.ChangeCauseAnnotation: "first release", "team": "blue"}
	e.Create(ro)
	e.WaitComplete("web")
	rs := e.replicaSetFor("app:v1")
	e.G.Expect(rs.Annotations).To(HaveKeyWithValue(stepwisev1alpha1.ChangeCauseAnnotation, "first release"))
	e.G.Expect(rs.Annotations).To(HaveKeyWithValue("team", "blue"))
	e.G.Expect(strings.Join(e.events(), "\n")).To(ContainSubstring("Scaled up replica set " + rs.Name + " to 1"))
}

// A ReplicaSet that cannot create its pods: the Rollout carries its ReplicaFailure condition.
func TestReplicaFailureIsCopied(t *testing.T) {
	e := newEnv(t)
	ro := e.newRollout(1, one, zero, "app:v1")
	// Rejected at pod creation: a projected token needs a service account name.
	ro.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
	e.Create(ro)
	e.G.Eventually(func(g Gomega) {
		cond := meta.FindStatusCondition(e.Get("web").Status.Conditions, stepwisev1alpha1.ConditionReplicaFailure)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cond.Message).To(ContainSubstring("serviceAccountToken"))
	}).Should(Succeed())
}

// The rollback request annotation: done once, cleared, recorded; a missing revision says why.
func TestRollbackRequestAnnotation(t *testing.T) {
	e := newEnv(t)
	e.Create(e.newRollout(2, one, one, "app:v1"))
	e.WaitComplete("web")
	e.SetImage("web", "app:v2")
	e.WaitComplete("web")

	e.Update("web", func(ro *stepwisev1alpha1.Rollout) {
		ro.Annotations = map[string]string{stepwisev1alpha1.RollbackRequestAnnotation: "0"}
	})
	e.G.Eventually(func() string { return e.Get("web").Spec.Template.Spec.Containers[0].Image }).Should(Equal("app:v1"))
	ro := e.WaitComplete("web")
	e.G.Expect(ro.Annotations).NotTo(HaveKey(stepwisev1alpha1.RollbackRequestAnnotation))
	e.G.Expect(meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionRollback).Reason).To(Equal(stepwisev1alpha1.ReasonRolledBack))
	e.G.Expect(ro.Status.CurrentRevision).To(Equal(int64(3)))

	e.Update("web", func(ro *stepwisev1alpha1.Rollout) {
		ro.Annotations = map[string]string{stepwisev1alpha1.RollbackRequestAnnotation: "99"}
	})
	e.G.Eventually(func() string {
		cond := meta.FindStatusCondition(e.Get("web").Status.Conditions, stepwisev1alpha1.ConditionRollback)
		return cond.Reason
	}).Should(Equal(stepwisev1alpha1.ReasonRevisionNotFound))
	e.G.Expect(e.Get("web").Spec.Template.Spec.Containers[0].Image).To(Equal("app:v1"))
}

// A namespace ResourceQuota of exactly replicas + maxSurge pods: the rollout completes and the
// quota never refuses a pod (the ReplicaSet controller records no FailedCreate), with the
// default podReplacementPolicy for pods that go at once, and with TerminationComplete for pods
// that take 2 s to shut down, since a quota counts a terminating pod as long as it exists.
func TestPodQuotaOfReplicasPlusMaxSurge(t *testing.T) {
	for _, tc := range []struct {
		policy           stepwisev1alpha1.PodReplacementPolicy
		terminationDelay string
	}{
		{policy: "", terminationDelay: "0s"},
		{policy: stepwisev1alpha1.PodReplacementPolicyTerminationComplete, terminationDelay: "2s"},
	} {
		t.Run(fmt.Sprintf("%s terminating %s", cmp.Or(tc.policy, "default"), tc.terminationDelay), func(t *testing.T) {
			t.Parallel()
			rollUnderPodQuota(t, tc.policy, tc.terminationDelay)
		})
	}
}

func rollUnderPodQuota(t *testing.T, policy stepwisev1alpha1.PodReplacementPolicy, delay string) {
	e := newEnv(t)
	e.Create(&corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods", Namespace: e.NS},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("13")}},
	})
	e.G.Eventually(func(g Gomega) {
		quota := &corev1.ResourceQuota{}
		g.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: "pods"}, quota)).To(Succeed())
		g.Expect(quota.Status.Hard).To(HaveKey(corev1.ResourcePods), "the resourcequota controller has counted")
	}).Should(Succeed())
	ro := e.newRollout(10, intstr.FromInt32(3), intstr.FromInt32(2), "app:v1")
	ro.Spec.PodReplacementPolicy = policy
	setTerminationDelay(ro, delay)
	e.Settle(ro, observe.Bounds{MaxReplicas: 13, MinAvailable: 8, Terminating: policy == stepwisev1alpha1.PodReplacementPolicyTerminationComplete})

	e.SetImage("web", "app:v2")
	e.WaitComplete("web")
	events := &eventsv1.EventList{}
	e.G.Expect(e.Client.List(e.Ctx, events, client.InNamespace(e.NS))).To(Succeed())
	for _, ev := range events.Items {
		e.G.Expect(ev.Reason).NotTo(Equal("FailedCreate"), "%s %s: %s", ev.Regarding.Kind, ev.Regarding.Name, ev.Note)
	}
	e.ExpectNoViolations()
}
