// Package faults checks that rollouts survive faults: the controller killed and restarted, two
// replicas with leader election, the API server restarted, concurrent writers, a stale cache,
// and long chains of random operations. It runs its own local cluster and the real
// controller binary, so killing processes touches no other suite.
package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/planner"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/testutil"
	"github.com/stepwise-dev/stepwise/test/cluster"
	"github.com/stepwise-dev/stepwise/test/observe"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

var (
	localCluster           *cluster.Cluster
	k8s                    client.Client
	kube                   kubernetes.Interface
	scheme                 = runtime.NewScheme()
	controllerBin, workDir string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx := context.Background()
	root, err := cluster.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if workDir, err = os.MkdirTemp("", "stepwise-faults-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)
	if localCluster, err = cluster.Start(ctx, cluster.Options{Dir: filepath.Join(workDir, "cluster")}); err != nil {
		fmt.Fprintln(os.Stderr, "starting the local cluster:", err)
		return 1
	}
	defer localCluster.Stop()
	if err := localCluster.InstallCRDs(ctx, filepath.Join(root, "config", "crd")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = clientgoscheme.AddToScheme(scheme)
	_ = stepwisev1alpha1.AddToScheme(scheme)
	// The tests' own client is not the one being throttled: without a budget of its own, its
	// read-modify-write cycles stretch to seconds while other writers edit the same object.
	testConfig := rest.CopyConfig(localCluster.Config)
	testConfig.QPS, testConfig.Burst = 100, 200
	if k8s, err = client.New(testConfig, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kube = kubernetes.NewForConfigOrDie(localCluster.Config)
	controllerBin = filepath.Join(workDir, "stepwise-controller")
	build := exec.Command("go", "build", "-o", controllerBin, "./cmd/manager")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the controller: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// controller is one running controller process.
type controller struct {
	cmd *exec.Cmd
	log *lockedBuffer
}

// lockedBuffer collects a process's output safely while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startController runs the controller binary against the cluster; the test stops it (and
// prints its log if the test failed).
func startController(t *testing.T, args ...string) *controller {
	t.Helper()
	c := &controller{log: &lockedBuffer{}}
	c.cmd = exec.Command(controllerBin, append([]string{"--health-probe-bind-address=0", "--zap-log-level=2"}, args...)...)
	c.cmd.Env = append(os.Environ(), "KUBECONFIG="+localCluster.Kubeconfig)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("controller log:\n%s", tailLines(c.log.String(), 60))
		}
	})
	return c
}

// kill ends the process at once (SIGKILL: no cleanup, no lease release), as a crash would.
func (c *controller) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// env is one test's environment (see testenv.Env) with this suite's helpers.
type env struct{ *testenv.Env }

func newEnv(t *testing.T) *env {
	t.Helper()
	te := testenv.New(t, k8s, kube, 2*time.Minute)
	return &env{te}
}

// rollout is "web" with pods ready after readyDelay, so rollouts take a few waves.
func (e *env) rollout(replicas int32, surge, unavailable intstr.IntOrString, readyDelay string) *stepwisev1alpha1.Rollout {
	ro := testutil.Rollout("web").Namespace(e.NS).Replicas(replicas).Surge(surge.String()).Unavailable(unavailable.String()).Image("app:v0").Obj()
	ro.Spec.Template.Annotations = map[string]string{"pod-ready.stage.kwok.x-k8s.io/delay": readyDelay}
	return ro
}

// bounds are what every observed state must keep for ro's current size.
func bounds(ro *stepwisev1alpha1.Rollout) observe.Bounds {
	p, err := planner.Resolve(ro)
	if err != nil {
		panic(err)
	}
	return observe.Bounds{MaxReplicas: p.Replicas + p.MaxSurge, MinAvailable: p.Replicas - p.MaxUnavailable}
}

func (e *env) get() *stepwisev1alpha1.Rollout { return e.Get("web") }

func (e *env) update(mutate func(*stepwisev1alpha1.Rollout)) { e.Update("web", mutate) }

// waitComplete waits for the Complete condition of the current generation.
func (e *env) waitComplete() {
	e.T.Helper()
	e.G.Eventually(func(g Gomega) {
		ro := e.get()
		var complete *metav1.Condition
		for i := range ro.Status.Conditions {
			if ro.Status.Conditions[i].Type == stepwisev1alpha1.ConditionComplete {
				complete = &ro.Status.Conditions[i]
			}
		}
		g.Expect(complete).NotTo(BeNil())
		g.Expect(complete.ObservedGeneration).To(Equal(ro.Generation))
		g.Expect(complete.Status).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())
}

// expectConverged checks the end of a faulty run: no bound was ever broken, no two
// ReplicaSets share a template, and only the current one keeps pods.
func (e *env) expectConverged() {
	e.T.Helper()
	e.G.Expect(e.Obs.Violations()).To(BeEmpty())
	list := &appsv1.ReplicaSetList{}
	e.G.Expect(k8s.List(e.Ctx, list, client.InNamespace(e.NS))).To(Succeed())
	for i := range list.Items {
		for j := i + 1; j < len(list.Items); j++ {
			if revision.EqualIgnoreHash(&list.Items[i].Spec.Template, &list.Items[j].Spec.Template) {
				e.T.Errorf("ReplicaSets %s and %s have the same template", list.Items[i].Name, list.Items[j].Name)
			}
		}
	}
	ro := e.get()
	e.G.Eventually(func() int32 {
		var old int32
		list := &appsv1.ReplicaSetList{}
		e.G.Expect(k8s.List(e.Ctx, list, client.InNamespace(e.NS))).To(Succeed())
		for _, rs := range list.Items {
			if !revision.EqualIgnoreHash(&ro.Spec.Template, &rs.Spec.Template) {
				old += *rs.Spec.Replicas + rs.Status.Replicas
			}
		}
		return old
	}).Should(BeZero())
}
