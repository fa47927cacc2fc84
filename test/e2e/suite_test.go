// Package e2e drives Stepwise end to end on the local cluster: the real controller binary,
// real kubectl, the simulated kubelet.
package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stepwise-dev/stepwise/test/testenv"
)

var suite *testenv.Suite

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{Build: []string{"./cmd/manager", "./cmd/kubectl-stepwise"}}, func(s *testenv.Suite) error {
		suite = s
		// The controller runs as its own process, built from cmd/manager as users run it.
		c, err := s.StartController()
		if err != nil {
			return err
		}
		s.ControllerLog = c.Log
		return nil
	}))
}

// env is one test's namespace and observer (see testenv.Env), driven through kubectl.
type env struct{ *testenv.Env }

// Every test runs beside another (go test's -parallel): each has its own namespace, and most
// of its time is spent waiting on pods and measurements.
func newEnv(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	return &env{testenv.New(t, suite, 60*time.Second)}
}

// mustKubectl runs a kubectl step that must succeed (see testenv.Suite.Kubectl).
func (e *env) mustKubectl(stdin string, args ...string) string {
	e.T.Helper()
	out, err := suite.Kubectl(stdin, args...)
	if err != nil {
		e.T.Fatal(err)
	}
	return out
}

// hellok8s is the sample manifest at an image tag, with a change cause.
func hellok8s(t *testing.T, tag, cause string) string {
	t.Helper()
	m := strings.Replace(sampleManifest(t), "guangzhengli/hellok8s:v1", "guangzhengli/hellok8s:"+tag, 1)
	return strings.Replace(m, "  name: hellok8s\n", "  name: hellok8s\n  annotations:\n    kubernetes.io/change-cause: "+cause+"\n", 1)
}

func sampleManifest(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(suite.Root, "config", "samples", "hellok8s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// neverReady marks a hellok8s manifest's pods never to become ready, as a version whose
// readiness probe fails.
func neverReady(manifest string) string {
	return strings.Replace(manifest, "        app: hellok8s\n    spec:", "        app: hellok8s\n        stepwise.dev/never-ready: \"true\"\n    spec:", 1)
}

// withProgressDeadline gives a hellok8s manifest a progress deadline of 3 seconds.
func withProgressDeadline(manifest string) string {
	return strings.Replace(manifest, "spec:\n", "spec:\n  progressDeadlineSeconds: 3\n", 1)
}

// apply applies a manifest to the test's namespace.
func (e *env) apply(manifest string) {
	e.T.Helper()
	e.mustKubectl(manifest, "apply", "-n", e.NS, "-f", "-")
}

// release applies hellok8s at tag with a change cause and waits until kubectl wait sees it
// complete.
func (e *env) release(tag, cause string) {
	e.T.Helper()
	e.apply(hellok8s(e.T, tag, cause))
	e.waitFor("Complete")
}

// waitFor waits with kubectl wait until the hellok8s Rollout has condition.
func (e *env) waitFor(condition string) {
	e.T.Helper()
	e.mustKubectl("", "wait", "--for=condition="+condition, "rollout/hellok8s", "-n", e.NS, "--timeout=60s")
}

// podImages counts the hellok8s Rollout's running, non-terminating pods by image.
func (e *env) podImages() map[string]int {
	e.T.Helper()
	pods, err := suite.Kube.CoreV1().Pods(e.NS).List(e.Ctx, metav1.ListOptions{LabelSelector: "app=hellok8s"})
	e.G.Expect(err).NotTo(HaveOccurred())
	out := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out[p.Spec.Containers[0].Image]++
		}
	}
	return out
}
