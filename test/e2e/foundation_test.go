package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

func sampleManifest(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", "hellok8s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// tableRow returns the fields of the first data row of kubectl get's table, without the AGE
// column at index age.
func tableRow(out string, age int) []string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return nil
	}
	fields := strings.Fields(lines[1])
	if len(fields) <= age {
		return fields
	}
	return append(fields[:age:age], fields[age+1:]...)
}

func TestSampleRolloutShowsPrinterColumns(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	mustKubectl(t, sampleManifest(t), "apply", "-n", ns, "-f", "-")

	out := mustKubectl(t, "", "get", "rollouts", "-n", ns)
	g.Expect(strings.Fields(strings.SplitN(out, "\n", 2)[0])).To(Equal([]string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}))
	wide := mustKubectl(t, "", "get", "sro", "-n", ns, "-o", "wide")
	g.Expect(strings.Fields(strings.SplitN(wide, "\n", 2)[0])).To(Equal([]string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR", "STEP"}))
	g.Eventually(func() []string {
		return tableRow(mustKubectl(t, "", "get", "sro", "-n", ns, "-o", "wide"), 4)
	}).Should(Equal([]string{"hellok8s", "3/3", "3", "3", "hellok8s-container", "guangzhengli/hellok8s:v1", "app=hellok8s"}))
}

func TestKubectlScaleUsesTheScaleSubresource(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	mustKubectl(t, sampleManifest(t), "apply", "-n", ns, "-f", "-")
	g.Eventually(func() string {
		return mustKubectl(t, "", "get", "rollout/hellok8s", "-n", ns, "-o", "jsonpath={.status.selector}")
	}).Should(Equal("app=hellok8s"))

	mustKubectl(t, "", "scale", "rollout/hellok8s", "-n", ns, "--replicas=5")
	g.Expect(mustKubectl(t, "", "get", "rollout/hellok8s", "-n", ns, "-o", "jsonpath={.spec.replicas}")).To(Equal("5"))
	// What a HorizontalPodAutoscaler reads: the scale subresource with the pods' selector.
	scale := mustKubectl(t, "", "get", "--raw", "/apis/stepwise.dev/v1alpha1/namespaces/"+ns+"/rollouts/hellok8s/scale")
	g.Expect(scale).To(ContainSubstring(`"kind":"Scale"`))
	g.Expect(scale).To(ContainSubstring(`"replicas":5`))
	g.Expect(scale).To(ContainSubstring(`"selector":"app=hellok8s"`))
}

// deploymentManifest uses every DeploymentSpec field.
const deploymentManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    kubernetes.io/change-cause: first release
spec:
  replicas: 4
  minReadySeconds: 2
  revisionHistoryLimit: 3
  progressDeadlineSeconds: 120
  paused: true
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 30%
      maxUnavailable: 0
  selector:
    matchExpressions:
    - {key: app, operator: In, values: [web]}
  template:
    metadata:
      labels: {app: web}
      annotations: {team: blue}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
        readinessProbe:
          httpGet: {path: /healthz, port: 80}
`

func TestADeploymentManifestBecomesARolloutByChangingApiVersionAndKind(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	manifest := strings.NewReplacer("apiVersion: apps/v1", "apiVersion: stepwise.dev/v1alpha1", "kind: Deployment", "kind: Rollout").Replace(deploymentManifest)
	// Strict validation fails on any field the Rollout schema lacks.
	mustKubectl(t, manifest, "apply", "--validate=strict", "-n", ns, "-f", "-")
	mustKubectl(t, deploymentManifest, "apply", "--validate=strict", "-n", ns, "-f", "-")

	ro := &stepwisev1alpha1.Rollout{}
	g.Expect(k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "web"}, ro)).To(Succeed())
	dep, err := kube.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*ro.Spec.Replicas).To(Equal(*dep.Spec.Replicas))
	g.Expect(ro.Spec.MinReadySeconds).To(Equal(dep.Spec.MinReadySeconds))
	g.Expect(*ro.Spec.RevisionHistoryLimit).To(Equal(*dep.Spec.RevisionHistoryLimit))
	g.Expect(*ro.Spec.ProgressDeadlineSeconds).To(Equal(*dep.Spec.ProgressDeadlineSeconds))
	g.Expect(ro.Spec.Paused).To(Equal(dep.Spec.Paused))
	g.Expect(string(ro.Spec.Strategy.Type)).To(Equal(string(dep.Spec.Strategy.Type)))
	g.Expect(*ro.Spec.Strategy.RollingUpdate.MaxSurge).To(Equal(*dep.Spec.Strategy.RollingUpdate.MaxSurge))
	g.Expect(*ro.Spec.Strategy.RollingUpdate.MaxUnavailable).To(Equal(*dep.Spec.Strategy.RollingUpdate.MaxUnavailable))
	g.Expect(ro.Spec.Selector).To(Equal(dep.Spec.Selector))
	g.Expect(ro.Spec.Template.Labels).To(Equal(dep.Spec.Template.Labels))
	g.Expect(ro.Spec.Template.Annotations).To(Equal(dep.Spec.Template.Annotations))
	g.Expect(ro.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path).To(Equal("/healthz"))
	g.Expect(ro.Annotations[stepwisev1alpha1.ChangeCauseAnnotation]).To(Equal("first release"))
}

func TestRolloutDefaultsMatchADeployments(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	minimal := `apiVersion: apps/v1
kind: Deployment
metadata: {name: minimal}
spec:
  selector: {matchLabels: {app: minimal}}
  template:
    metadata: {labels: {app: minimal}}
    spec: {containers: [{name: c, image: busybox}]}
`
	mustKubectl(t, strings.NewReplacer("apps/v1", "stepwise.dev/v1alpha1", "Deployment", "Rollout").Replace(minimal), "apply", "-n", ns, "-f", "-")
	mustKubectl(t, minimal, "apply", "-n", ns, "-f", "-")
	ro := &stepwisev1alpha1.Rollout{}
	g.Expect(k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "minimal"}, ro)).To(Succeed())
	dep, err := kube.AppsV1().Deployments(ns).Get(context.Background(), "minimal", metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*ro.Spec.Replicas).To(Equal(*dep.Spec.Replicas))
	g.Expect(*ro.Spec.RevisionHistoryLimit).To(Equal(*dep.Spec.RevisionHistoryLimit))
	g.Expect(*ro.Spec.ProgressDeadlineSeconds).To(Equal(*dep.Spec.ProgressDeadlineSeconds))
	g.Expect(string(ro.Spec.Strategy.Type)).To(Equal(string(dep.Spec.Strategy.Type)))
	// An absent rollingUpdate means 25%/25%, the values a Deployment is defaulted to.
	g.Expect(ro.Spec.Strategy.RollingUpdate).To(BeNil())
	g.Expect(stepwisev1alpha1.DefaultMaxSurge).To(Equal(*dep.Spec.Strategy.RollingUpdate.MaxSurge))
	g.Expect(stepwisev1alpha1.DefaultMaxUnavailable).To(Equal(*dep.Spec.Strategy.RollingUpdate.MaxUnavailable))

	// A rollingUpdate block with fields left out gets the same defaults as a Deployment's.
	mustKubectl(t, "", "patch", "rollout/minimal", "-n", ns, "--type=merge", "-p", `{"spec":{"strategy":{"rollingUpdate":{}}}}`)
	g.Expect(k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "minimal"}, ro)).To(Succeed())
	g.Expect(*ro.Spec.Strategy.RollingUpdate.MaxSurge).To(Equal(intstr.FromString("25%")))
	g.Expect(*ro.Spec.Strategy.RollingUpdate.MaxUnavailable).To(Equal(intstr.FromString("25%")))
}

func TestBuiltInDeploymentRollsOutOnTheSimulatedKubelet(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	dep := deployment("web", 3, nil)
	_, err := kube.AppsV1().Deployments(ns).Create(context.Background(), dep, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() int32 {
		got, err := kube.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return got.Status.AvailableReplicas
	}).Should(Equal(int32(3)))
	pods, err := kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pods.Items).To(HaveLen(3))
	for _, p := range pods.Items {
		g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		g.Expect(podReady(&p)).To(BeTrue(), p.Name)
	}

	out := mustKubectl(t, "", "rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
	g.Expect(out).To(ContainSubstring("successfully rolled out"))
}

func TestNeverReadyMarkerKeepsPodsUnready(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	dep := deployment("bad", 2, map[string]string{"stepwise.dev/never-ready": "true"})
	_, err := kube.AppsV1().Deployments(ns).Create(context.Background(), dep, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	runningUnready := func() int {
		pods, err := kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		n := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && !podReady(&p) {
				n++
			}
		}
		return n
	}
	g.Eventually(runningUnready).Should(Equal(2))
	g.Consistently(runningUnready, 3*time.Second, 200*time.Millisecond).Should(Equal(2))
	got, err := kube.AppsV1().Deployments(ns).Get(context.Background(), "bad", metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.Status.AvailableReplicas).To(BeZero())
}

func TestReadinessGatesWaitForSomeoneToSetThem(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	const gate = "example.com/load-balancer-registered"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "gated"},
		Spec: corev1.PodSpec{
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: gate}},
			Containers:     []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}
	_, err := kube.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	getPod := func() *corev1.Pod {
		p, err := kube.CoreV1().Pods(ns).Get(context.Background(), "gated", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return p
	}
	g.Eventually(func() bool { return podCondition(getPod(), corev1.ContainersReady) }).Should(BeTrue())
	g.Consistently(func() bool { return podReady(getPod()) }, 2*time.Second, 200*time.Millisecond).Should(BeFalse())

	setGate := func(status corev1.ConditionStatus) {
		patch := `{"status":{"conditions":[{"type":"` + gate + `","status":"` + string(status) + `"}]}}`
		mustKubectl(t, "", "patch", "pod/gated", "-n", ns, "--subresource=status", "--type=strategic", "-p", patch)
	}
	setGate(corev1.ConditionTrue)
	g.Eventually(func() bool { return podReady(getPod()) }).Should(BeTrue())
	setGate(corev1.ConditionFalse)
	g.Eventually(func() bool { return podReady(getPod()) }).Should(BeFalse())
}

func deployment(name string, replicas int32, extraLabels map[string]string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	for k, v := range extraLabels {
		labels[k] = v
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) }
