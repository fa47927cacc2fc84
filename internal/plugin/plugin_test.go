package plugin

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

func TestRenderTree(t *testing.T) {
	g := NewWithT(t)
	ro := &stepwisev1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "hellok8s", UID: "ro"},
		Status: stepwisev1alpha1.RolloutStatus{Ready: "2/3", CurrentRevision: 2}}
	rsOf := func(name, uid, image string, rev string, replicas int32) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("rs-" + uid), Annotations: map[string]string{stepwisev1alpha1.RevisionAnnotation: rev}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "c", Image: image}}}}},
		}
	}
	v1, v2 := rsOf("hellok8s-a", "a", "v1", "1", 1), rsOf("hellok8s-b", "b", "v2", "2", 2)
	pod := func(name string, rs *appsv1.ReplicaSet, ready bool, terminating bool) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{{UID: rs.UID, Controller: ptr.To(true)}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		if terminating {
			p.DeletionTimestamp = &metav1.Time{}
		}
		return p
	}
	tree := renderTree(ro, []*appsv1.ReplicaSet{v1, v2}, []corev1.Pod{pod("b-2", v2, false, false), pod("b-1", v2, true, false), pod("a-1", v1, true, true)}, nil, nil)
	g.Expect(tree).To(Equal(`Rollout hellok8s  ready 2/3  revision 2
├── ReplicaSet hellok8s-b  revision 2  v2  desired 2  ready 0/0
│   ├── Pod b-1  Running  Ready
│   └── Pod b-2  Running  NotReady
└── ReplicaSet hellok8s-a  revision 1  v1  desired 1  ready 0/0
    └── Pod a-1  Running  Terminating
`))

	v2.Labels = map[string]string{stepwisev1alpha1.PodTemplateHashLabel: "b"}
	run := stepwisev1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Name: "hellok8s-2-step-2", Labels: v2.Labels,
			OwnerReferences: []metav1.OwnerReference{{UID: ro.UID, Controller: ptr.To(true)}}},
		Status: stepwisev1alpha1.AnalysisRunStatus{Phase: stepwisev1alpha1.AnalysisPhaseFailed, Summary: "1/1", MetricResults: []stepwisev1alpha1.MetricResult{
			{Name: "latency", Phase: stepwisev1alpha1.AnalysisPhaseSuccessful, Successful: 3, Measurements: []stepwisev1alpha1.Measurement{{Value: "120"}}},
			{Name: "error-rate", Phase: stepwisev1alpha1.AnalysisPhaseFailed, Successful: 1, Failed: 1, Measurements: []stepwisev1alpha1.Measurement{{Value: "0.01"}, {Value: "0.5"}}},
		}},
	}
	other := *run.DeepCopy()
	other.Name, other.OwnerReferences = "another-rollouts", nil
	tree = renderTree(ro, []*appsv1.ReplicaSet{v2}, nil, []stepwisev1alpha1.AnalysisRun{run, other}, nil)
	g.Expect(tree).To(Equal(`Rollout hellok8s  ready 2/3  revision 2
└── ReplicaSet hellok8s-b  revision 2  v2  desired 2  ready 0/0
    └── AnalysisRun hellok8s-2-step-2  Failed  passed/failed 1/1
        ├── metric latency  Successful  last 120  passed 3 failed 0
        └── metric error-rate  Failed  last 0.5  passed 1 failed 1
`))
}

func TestParseImages(t *testing.T) {
	g := NewWithT(t)
	got, err := parseImages([]string{"web=nginx:1.27", "*=busybox"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal([]containerImage{{"web", "nginx:1.27"}, {"*", "busybox"}}))
	for _, bad := range []string{"nginx:1.27", "=nginx", "web=", "web=a b"} {
		_, err := parseImages([]string{bad})
		g.Expect(err).To(MatchError(ContainSubstring("expected CONTAINER=IMAGE")), bad)
	}
}

func TestProgressLinesShowStepsPartitionAndPause(t *testing.T) {
	g := NewWithT(t)
	ro := &stepwisev1alpha1.Rollout{Spec: stepwisev1alpha1.RolloutSpec{Strategy: stepwisev1alpha1.RolloutStrategy{
		RollingUpdate: &stepwisev1alpha1.RollingUpdateRollout{
			Partition: ptr.To(intstr.FromString("20%")),
			Steps: []stepwisev1alpha1.CanaryStep{
				{Replicas: ptr.To(intstr.FromInt32(1)), Pause: &stepwisev1alpha1.CanaryPause{}},
				{Replicas: ptr.To(intstr.FromString("50%")), Pause: &stepwisev1alpha1.CanaryPause{DurationSeconds: ptr.To[int32](30)}},
				{Replicas: ptr.To(intstr.FromString("100%"))},
			}}}},
		Status: stepwisev1alpha1.RolloutStatus{Canary: &stepwisev1alpha1.CanaryStatus{CurrentStep: 1},
			Conditions: []metav1.Condition{{Type: stepwisev1alpha1.ConditionPaused, Status: metav1.ConditionTrue,
				Reason: stepwisev1alpha1.ReasonCanaryPauseStep, Message: "Paused at step 2 of 3"}}}}
	g.Expect(progressLines(ro, nil)).To(Equal([]string{
		"Steps: 1: 1 pause │ ▶ 2: 50% pause 30s │ 3: 100%",
		"Partition: 20%",
		"Paused (CanaryPauseStep): Paused at step 2 of 3",
	}))
	g.Expect(progressLines(&stepwisev1alpha1.Rollout{}, nil)).To(BeEmpty())

	bg := &stepwisev1alpha1.Rollout{Spec: stepwisev1alpha1.RolloutSpec{Strategy: stepwisev1alpha1.RolloutStrategy{
		Type: stepwisev1alpha1.BlueGreenRolloutStrategyType, BlueGreen: &stepwisev1alpha1.BlueGreenStrategy{ActiveService: "web", PreviewService: "web-next"}}}}
	g.Expect(progressLines(bg, map[string]string{"web": "5d9f", "web-next": "missing"})).To(Equal([]string{"Services: active web → 5d9f │ preview web-next → missing"}))
}
