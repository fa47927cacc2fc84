package e2e

import (
	"strconv"
	"testing"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stepwise-dev/stepwise/test/observe"
)

// The markers of the simulated kubelet that analysis relies on (test/cluster/stages.yaml): a Job
// whose pod exits, a crash-looping pod and a pod whose image cannot be pulled.
func TestExitMarkerEndsAJobsPod(t *testing.T) {
	for _, tc := range []struct {
		name     string
		exitCode int32
		wantJob  batchv1.JobConditionType
		wantPod  corev1.PodPhase
	}{
		{name: "exit code 0 completes the Job", exitCode: 0, wantJob: batchv1.JobComplete, wantPod: corev1.PodSucceeded},
		{name: "exit code 1 fails the Job", exitCode: 1, wantJob: batchv1.JobFailed, wantPod: corev1.PodFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			backoffLimit := int32(0)
			job := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: "smoke"},
				Spec: batchv1.JobSpec{
					BackoffLimit: &backoffLimit,
					Template: corev1.PodTemplateSpec{
						// The delay leaves the pod running long enough to be seen running.
						ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"stepwise.dev/exit-code": strconv.Itoa(int(tc.exitCode)), "stepwise.dev/exit-delay": "3s"}},
						Spec: corev1.PodSpec{
							RestartPolicy: corev1.RestartPolicyNever,
							Containers:    []corev1.Container{{Name: "smoke", Image: "busybox"}},
						},
					},
				},
			}
			_, err := suite.Kube.BatchV1().Jobs(e.NS).Create(e.Ctx, job, metav1.CreateOptions{})
			e.G.Expect(err).NotTo(HaveOccurred())

			e.G.Eventually(func(g Gomega) {
				pod := e.onlyPod(g)
				g.Expect(pod.Status.Phase).To(Equal(corev1.PodRunning))
				g.Expect(observe.PodCondition(pod, corev1.PodReady)).To(BeTrue())
			}).Should(Succeed())
			e.G.Eventually(func(g Gomega) {
				job, err := suite.Kube.BatchV1().Jobs(e.NS).Get(e.Ctx, "smoke", metav1.GetOptions{})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(job.Status.Conditions).To(ContainElement(And(
					HaveField("Type", tc.wantJob), HaveField("Status", corev1.ConditionTrue))))
			}).Should(Succeed())

			pod := e.onlyPod(e.G)
			e.G.Expect(pod.Status.Phase).To(Equal(tc.wantPod))
			e.G.Expect(pod.Status.ContainerStatuses).To(HaveLen(1))
			terminated := pod.Status.ContainerStatuses[0].State.Terminated
			e.G.Expect(terminated).NotTo(BeNil())
			e.G.Expect(terminated.ExitCode).To(Equal(tc.exitCode))
		})
	}
}

func TestCrashLoopMarkerRestartsContainersAndNeverReadies(t *testing.T) {
	e := newEnv(t)
	e.createPod("crasher", map[string]string{"stepwise.dev/crash-loop": "true"})

	e.G.Eventually(func(g Gomega) {
		pod := e.getPod(g, "crasher")
		g.Expect(pod.Status.Phase).To(Equal(corev1.PodRunning))
		g.Expect(observe.PodCondition(pod, corev1.PodReady)).To(BeFalse())
		g.Expect(pod.Status.ContainerStatuses).To(HaveLen(1))
		status := pod.Status.ContainerStatuses[0]
		g.Expect(status.Ready).To(BeFalse())
		g.Expect(status.State.Waiting).NotTo(BeNil())
		g.Expect(status.State.Waiting.Reason).To(Equal("CrashLoopBackOff"))
		g.Expect(status.LastTerminationState.Terminated).NotTo(BeNil())
		g.Expect(status.RestartCount).To(BeNumerically(">=", 2))
	}).Should(Succeed())
	e.G.Consistently(func(g Gomega) bool {
		return observe.PodCondition(e.getPod(g, "crasher"), corev1.PodReady)
	}).Should(BeFalse())
}

func TestImagePullMarkerKeepsPodsPending(t *testing.T) {
	e := newEnv(t)
	e.createPod("unpullable", map[string]string{"stepwise.dev/image-pull-error": "true"})

	pending := func(g Gomega, reasons ...string) {
		pod := e.getPod(g, "unpullable")
		g.Expect(pod.Status.Phase).To(Equal(corev1.PodPending))
		g.Expect(observe.PodCondition(pod, corev1.PodReady)).To(BeFalse())
		g.Expect(pod.Status.ContainerStatuses).To(HaveLen(1))
		waiting := pod.Status.ContainerStatuses[0].State.Waiting
		g.Expect(waiting).NotTo(BeNil())
		g.Expect(waiting.Reason).To(BeElementOf(reasons))
	}
	// ErrImagePull first (for a second, which a slow poll may miss), then the back-off where the
	// pod stays, as a kubelet shows them.
	e.G.Eventually(func(g Gomega) { pending(g, "ErrImagePull", "ImagePullBackOff") }).Should(Succeed())
	e.G.Eventually(func(g Gomega) { pending(g, "ImagePullBackOff") }).Should(Succeed())
	e.G.Consistently(func(g Gomega) { pending(g, "ImagePullBackOff") }).Should(Succeed())
}

// createPod creates a pod of one container with annotations.
func (e *env) createPod(name string, annotations map[string]string) {
	e.T.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	_, err := suite.Kube.CoreV1().Pods(e.NS).Create(e.Ctx, pod, metav1.CreateOptions{})
	e.G.Expect(err).NotTo(HaveOccurred())
}

// getPod reads a pod of the test's namespace, reporting to g so that Eventually can retry it.
func (e *env) getPod(g Gomega, name string) *corev1.Pod {
	pod, err := suite.Kube.CoreV1().Pods(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	return pod
}

// onlyPod returns the one pod of the test's namespace.
func (e *env) onlyPod(g Gomega) *corev1.Pod {
	pods, err := suite.Kube.CoreV1().Pods(e.NS).List(e.Ctx, metav1.ListOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pods.Items).To(HaveLen(1))
	return &pods.Items[0]
}
