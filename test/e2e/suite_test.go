// Package e2e drives Stepwise end to end on the local cluster: the real controller binary,
// real kubectl, the simulated kubelet.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/test/cluster"
)

var (
	repoRoot   string
	kubeconfig string
	kube       kubernetes.Interface
	k8sClient  client.Client
	binDir     string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	var err error
	if repoRoot, err = cluster.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "stepwise-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	c, err := cluster.Start(ctx, cluster.Options{Dir: filepath.Join(tmp, "cluster")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local cluster:", err)
		return 1
	}
	defer c.Stop()
	kubeconfig = c.Kubeconfig
	if err := c.InstallCRDs(ctx, filepath.Join(repoRoot, "config", "crd")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	utilruntime.Must(stepwisev1alpha1.AddToScheme(scheme.Scheme))
	kube = kubernetes.NewForConfigOrDie(c.Config)
	if k8sClient, err = client.New(c.Config, client.Options{Scheme: scheme.Scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	// The controller runs as its own process, built from cmd/manager as users run it.
	binDir = filepath.Join(tmp, "bin")
	build := exec.Command("go", "build", "-o", binDir+"/", "./cmd/manager", "./cmd/kubectl-stepwise")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the controller: %v\n%s", err, out)
		return 1
	}
	controllerLog, err := os.Create(filepath.Join(tmp, "controller.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	controller := exec.Command(filepath.Join(binDir, "manager"), "--health-probe-bind-address=127.0.0.1:0", "--zap-log-level=2")
	controller.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	controller.Stdout, controller.Stderr = controllerLog, controllerLog
	if err := controller.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting the controller:", err)
		return 1
	}
	defer func() { _ = controller.Process.Kill(); _ = controller.Wait() }()

	code := m.Run()
	if code != 0 {
		// The controller's log is the first thing to read when an e2e test fails.
		if data, err := os.ReadFile(controllerLog.Name()); err == nil {
			lines := strings.Split(string(data), "\n")
			fmt.Fprintf(os.Stderr, "--- last controller log lines:\n%s\n", strings.Join(lines[max(0, len(lines)-80):], "\n"))
		}
	}
	return code
}

// newNamespace creates a namespace for one test and deletes it when the test ends.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	created, err := kube.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), created.Name, metav1.DeleteOptions{})
	})
	return created.Name
}

// kubectl runs kubectl against the test cluster and returns its stdout; stderr joins the error.
func kubectl(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	// kubectl finds the plugin on PATH, as a user's kubectl does.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// mustKubectl is kubectl for steps that must succeed.
func mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectl(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gomegaFor(t *testing.T) *WithT {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(60 * time.Second)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	return g
}
