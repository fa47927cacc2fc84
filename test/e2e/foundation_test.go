package e2e

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/test/observe"
)

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
	e := newEnv(t)
	e.apply(sampleManifest(t))

	out := e.mustKubectl("", "get", "rollouts", "-n", e.NS)
	e.G.Expect(strings.Fields(strings.SplitN(out, "\n", 2)[0])).To(Equal([]string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}))
	wide := e.mustKubectl("", "get", "sro", "-n", e.NS, "-o", "wide")
	e.G.Expect(strings.Fields(strings.SplitN(wide, "\n", 2)[0])).To(Equal([]string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR", "STEP"}))
	e.G.Eventually(func() []string {
		return tableRow(e.mustKubectl("", "get", "sro", "-n", e.NS, "-o", "wide"), 4)
	}).Should(Equal([]string{"hellok8s", "3/3", "3", "3", "hellok8s-container", "guangzhengli/hellok8s:v1", "app=hellok8s"}))
}

func TestKubectlScaleUsesTheScaleSubresource(t *testing.T) {
	e := newEnv(t)
	e.apply(sampleManifest(t))
	e.G.Eventually(func() string {
		return e.mustKubectl("", "get", "rollout/hellok8s", "-n", e.NS, "-o", "jsonpath={.status.selector}")
	}).Should(Equal("app=hellok8s"))

	e.mustKubectl("", "scale", "rollout/hellok8s", "-n", e.NS, "--replicas=5")
	e.G.Expect(e.mustKubectl("", "get", "rollout/hellok8s", "-n", e.NS, "-o", "jsonpath={.spec.replicas}")).To(Equal("5"))
	// What a HorizontalPodAutoscaler reads: the scale subresource with the pods' selector.
	scale := e.mustKubectl("", "get", "--raw", "/apis/stepwise.dev/v1alpha1/namespaces/"+e.NS+"/rollouts/hellok8s/scale")
	e.G.Expect(scale).To(ContainSubstring(`"kind":"Scale"`))
	e.G.Expect(scale).To(ContainSubstring(`"replicas":5`))
	e.G.Expect(scale).To(ContainSubstring(`"selector":"app=hellok8s"`))
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
	e := newEnv(t)
	manifest := strings.NewReplacer("apiVersion: apps/v1", "apiVersion: stepwise.dev/v1alpha1", "kind: Deployment", "kind: Rollout").Replace(deploymentManifest)
	// Strict validation fails on any field the Rollout schema lacks.
	e.mustKubectl(manifest, "apply", "--validate=strict", "-n", e.NS, "-f", "-")
	e.mustKubectl(deploymentManifest, "apply", "--validate=strict", "-n", e.NS, "-f", "-")

	ro, dep := e.Get("web"), e.getDeployment("web")
	e.G.Expect(*ro.Spec.Replicas).To(Equal(*dep.Spec.Replicas))
	e.G.Expect(ro.Spec.MinReadySeconds).To(Equal(dep.Spec.MinReadySeconds))
	e.G.Expect(*ro.Spec.RevisionHistoryLimit).To(Equal(*dep.Spec.RevisionHistoryLimit))
	e.G.Expect(*ro.Spec.ProgressDeadlineSeconds).To(Equal(*dep.Spec.ProgressDeadlineSeconds))
	e.G.Expect(ro.Spec.Paused).To(Equal(dep.Spec.Paused))
	e.G.Expect(string(ro.Spec.Strategy.Type)).To(Equal(string(dep.Spec.Strategy.Type)))
	e.G.Expect(*ro.Spec.Strategy.RollingUpdate.MaxSurge).To(Equal(*dep.Spec.Strategy.RollingUpdate.MaxSurge))
	e.G.Expect(*ro.Spec.Strategy.RollingUpdate.MaxUnavailable).To(Equal(*dep.Spec.Strategy.RollingUpdate.MaxUnavailable))
	e.G.Expect(ro.Spec.Selector).To(Equal(dep.Spec.Selector))
	e.G.Expect(ro.Spec.Template.Labels).To(Equal(dep.Spec.Template.Labels))
	e.G.Expect(ro.Spec.Template.Annotations).To(Equal(dep.Spec.Template.Annotations))
	e.G.Expect(ro.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path).To(Equal("/healthz"))
	e.G.Expect(ro.Annotations[stepwisev1alpha1.ChangeCauseAnnotation]).To(Equal("first release"))
}

func TestRolloutDefaultsMatchADeployments(t *testing.T) {
	e := newEnv(t)
	minimal := `apiVersion: apps/v1
kind: Deployment
metadata: {name: minimal}
spec:
  selector: {matchLabels: {app: minimal}}
  template:
    metadata: {labels: {app: minimal}}
    spec: {containers: [{name: c, image: busybox}]}
`
	e.mustKubectl(strings.NewReplacer("apps/v1", "stepwise.dev/v1alpha1", "Deployment", "Rollout").Replace(minimal), "apply", "-n", e.NS, "-f", "-")
	e.mustKubectl(minimal, "apply", "-n", e.NS, "-f", "-")
	ro, dep := e.Get("minimal"), e.getDeployment("minimal")
	e.G.Expect(*ro.Spec.Replicas).To(Equal(*dep.Spec.Replicas))
	e.G.Expect(*ro.Spec.RevisionHistoryLimit).To(Equal(*dep.Spec.RevisionHistoryLimit))
	e.G.Expect(*ro.Spec.ProgressDeadlineSeconds).To(Equal(*dep.Spec.ProgressDeadlineSeconds))
	e.G.Expect(string(ro.Spec.Strategy.Type)).To(Equal(string(dep.Spec.Strategy.Type)))
	// An absent rollingUpdate means 25%/25%, the values a Deployment is defaulted to.
	e.G.Expect(ro.Spec.Strategy.RollingUpdate).To(BeNil())
	e.G.Expect(stepwisev1alpha1.DefaultMaxSurge).To(Equal(*dep.Spec.Strategy.RollingUpdate.MaxSurge))
	e.G.Expect(stepwisev1alpha1.DefaultMaxUnavailable).To(Equal(*dep.Spec.Strategy.RollingUpdate.MaxUnavailable))

	// A rollingUpdate block with fields left out gets the same defaults as a Deployment's.
	e.mustKubectl("", "patch", "rollout/minimal", "-n", e.NS, "--type=merge", "-p", `{"spec":{"strategy":{"rollingUpdate":{}}}}`)
	ro = e.Get("minimal")
	e.G.Expect(*ro.Spec.Strategy.RollingUpdate.MaxSurge).To(Equal(intstr.FromString("25%")))
	e.G.Expect(*ro.Spec.Strategy.RollingUpdate.MaxUnavailable).To(Equal(intstr.FromString("25%")))
}

func TestBuiltInDeploymentRollsOutOnTheSimulatedKubelet(t *testing.T) {
	e := newEnv(t)
	dep := deployment("web", 3, nil)
	_, err := suite.Kube.AppsV1().Deployments(e.NS).Create(e.Ctx, dep, metav1.CreateOptions{})
	e.G.Expect(err).NotTo(HaveOccurred())
	e.G.Eventually(func() int32 { return e.getDeployment("web").Status.AvailableReplicas }).Should(Equal(int32(3)))
	pods, err := suite.Kube.CoreV1().Pods(e.NS).List(e.Ctx, metav1.ListOptions{})
	e.G.Expect(err).NotTo(HaveOccurred())
	e.G.Expect(pods.Items).To(HaveLen(3))
	for _, p := range pods.Items {
		e.G.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		e.G.Expect(observe.PodCondition(&p, corev1.PodReady)).To(BeTrue(), p.Name)
	}

	out := e.mustKubectl("", "rollout", "status", "deployment/web", "-n", e.NS, "--timeout=60s")
	e.G.Expect(out).To(ContainSubstring("successfully rolled out"))
}

func TestNeverReadyMarkerKeepsPodsUnready(t *testing.T) {
	e := newEnv(t)
	dep := deployment("bad", 2, map[string]string{"stepwise.dev/never-ready": "true"})
	_, err := suite.Kube.AppsV1().Deployments(e.NS).Create(e.Ctx, dep, metav1.CreateOptions{})
	e.G.Expect(err).NotTo(HaveOccurred())
	runningUnready := func() int {
		pods, err := suite.Kube.CoreV1().Pods(e.NS).List(e.Ctx, metav1.ListOptions{})
		e.G.Expect(err).NotTo(HaveOccurred())
		n := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && !observe.PodCondition(&p, corev1.PodReady) {
				n++
			}
		}
		return n
	}
	e.G.Eventually(runningUnready).Should(Equal(2))
	e.G.Consistently(runningUnready, 3*time.Second, 200*time.Millisecond).Should(Equal(2))
	e.G.Expect(e.getDeployment("bad").Status.AvailableReplicas).To(BeZero())
}

func TestReadinessGatesWaitForSomeoneToSetThem(t *testing.T) {
	e := newEnv(t)
	const gate = "example.com/load-balancer-registered"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "gated"},
		Spec: corev1.PodSpec{
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: gate}},
			Containers:     []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}
	_, err := suite.Kube.CoreV1().Pods(e.NS).Create(e.Ctx, pod, metav1.CreateOptions{})
	e.G.Expect(err).NotTo(HaveOccurred())
	getPod := func() *corev1.Pod {
		p, err := suite.Kube.CoreV1().Pods(e.NS).Get(e.Ctx, "gated", metav1.GetOptions{})
		e.G.Expect(err).NotTo(HaveOccurred())
		return p
	}
	e.G.Eventually(func() bool { return observe.PodCondition(getPod(), corev1.ContainersReady) }).Should(BeTrue())
	e.G.Consistently(func() bool { return observe.PodCondition(getPod(), corev1.PodReady) }, 2*time.Second, 200*time.Millisecond).Should(BeFalse())

	setGate := func(status corev1.ConditionStatus) {
		patch := `{"status":{"conditions":[{"type":"` + gate + `","status":"` + string(status) + `"}]}}`
		e.mustKubectl("", "patch", "pod/gated", "-n", e.NS, "--subresource=status", "--type=strategic", "-p", patch)
	}
	setGate(corev1.ConditionTrue)
	e.G.Eventually(func() bool { return observe.PodCondition(getPod(), corev1.PodReady) }).Should(BeTrue())
	setGate(corev1.ConditionFalse)
	e.G.Eventually(func() bool { return observe.PodCondition(getPod(), corev1.PodReady) }).Should(BeFalse())
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

func (e *env) getDeployment(name string) *appsv1.Deployment {
	e.T.Helper()
	dep, err := suite.Kube.AppsV1().Deployments(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	e.G.Expect(err).NotTo(HaveOccurred())
	return dep
}
