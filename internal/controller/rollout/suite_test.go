package rollout_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/controller/rollout"
	"github.com/stepwise-dev/stepwise/internal/testutil"
	"github.com/stepwise-dev/stepwise/test/cluster"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

var (
	k8s  client.Client
	kube kubernetes.Interface
)

// TestMain starts the local cluster and the Rollout controller once for the package.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root, err := cluster.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "stepwise-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, AuditUser: controllerUser})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local cluster:", err)
		return 1
	}
	defer c.Stop()
	if err := c.InstallCRDs(ctx, filepath.Join(root, "config", "crd")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = stepwisev1alpha1.AddToScheme(scheme)
	logFile, err := os.Create(filepath.Join(dir, "controller.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile), zap.Level(zapcore.Level(-2))))
	// The controller runs as its ServiceAccount with exactly the generated RBAC (config/rbac).
	if out, err := exec.Command("kubectl", "--kubeconfig", c.Kubeconfig, "create", "namespace", "stepwise-system").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "%v: %s\n", err, out)
		return 1
	}
	if out, err := exec.Command("kubectl", "--kubeconfig", c.Kubeconfig, "apply", "-k", filepath.Join(root, "config", "rbac")).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "applying config/rbac: %v: %s\n", err, out)
		return 1
	}
	kube = kubernetes.NewForConfigOrDie(c.Config)
	token, err := kube.CoreV1().ServiceAccounts("stepwise-system").CreateToken(ctx, "stepwise-controller",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](6 * 3600)}}, metav1.CreateOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "requesting the controller's token:", err)
		return 1
	}
	controllerConfig := rest.AnonymousClientConfig(c.Config)
	controllerConfig.BearerToken = token.Status.Token
	mgr, err := ctrl.NewManager(controllerConfig, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  rollout.CacheOptions(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := rollout.NewReconciler(mgr).SetupWithManager(mgr, 5); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	if k8s, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	code := m.Run()
	if checkLeastPrivilege(c, filepath.Join(root, "config", "rbac", "role.yaml")) != 0 {
		code = 1
	}
	if code != 0 {
		_ = logFile.Sync()
		if data, err := os.ReadFile(logFile.Name()); err == nil {
			fmt.Fprintf(os.Stderr, "--- controller log (last 16 KiB):\n%s\n", tail(data, 16<<10))
		}
	}
	return code
}

// controllerUser is the ServiceAccount config/rbac binds the generated ClusterRole to.
const controllerUser = "system:serviceaccount:stepwise-system:stepwise-controller"

// checkLeastPrivilege fails the run when the controller was refused anything (a missing
// permission) or was granted a verb the whole suite never used (an extra one).
func checkLeastPrivilege(c *cluster.Cluster, role string) int {
	used, forbidden, err := c.AuditedPermissions()
	if err != nil {
		fmt.Fprintln(os.Stderr, "least privilege:", err)
		return 1
	}
	granted, err := cluster.GrantedPermissions(role)
	if err != nil {
		fmt.Fprintln(os.Stderr, "least privilege:", err)
		return 1
	}
	code := 0
	if len(forbidden) > 0 {
		fmt.Fprintf(os.Stderr, "least privilege: the controller was refused: %v\n", forbidden)
		code = 1
	}
	// Only the whole suite uses every permission; a -run subset cannot tell extra ones.
	if runFlag := flag.Lookup("test.run"); runFlag != nil && runFlag.Value.String() != "" {
		return code
	}
	if unused := cluster.Unused(granted, used); len(unused) > 0 {
		fmt.Fprintf(os.Stderr, "least privilege: %s grants what the controller never used: %v\n", role, unused)
		code = 1
	}
	return code
}

func tail(data []byte, n int) []byte { return data[max(0, len(data)-n):] }

// testEnv is one test's environment (see testenv.Env) with this suite's helpers.
type testEnv struct{ *testenv.Env }

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	env := testenv.New(t, k8s, kube, 90*time.Second)
	return &testEnv{env}
}

// newRollout is a RollingUpdate Rollout "web" of image in the test's namespace.
func (e *testEnv) newRollout(replicas int32, surge, unavailable intstr.IntOrString, image string) *stepwisev1alpha1.Rollout {
	return testutil.Rollout("web").Namespace(e.NS).Replicas(replicas).Surge(surge.String()).Unavailable(unavailable.String()).Image(image).Obj()
}

func (e *testEnv) create(obj client.Object) { e.Create(obj) }

func (e *testEnv) get(name string) *stepwisev1alpha1.Rollout { return e.Get(name) }

func (e *testEnv) update(name string, mutate func(*stepwisev1alpha1.Rollout)) { e.Update(name, mutate) }

func (e *testEnv) setImage(name, image string) {
	e.update(name, func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Template.Spec.Containers[0].Image = image })
}

// setNeverReadyImage changes the template to image with pods that never become ready, as a
// version whose readiness probe fails.
func (e *testEnv) setNeverReadyImage(name, image string) {
	e.update(name, func(ro *stepwisev1alpha1.Rollout) {
		ro.Spec.Template.Spec.Containers[0].Image = image
		ro.Spec.Template.Labels = map[string]string{"app": "web", "stepwise.dev/never-ready": "true"}
	})
}

// setHealthyImage changes the template to image with pods that become ready: the fix after a
// never-ready version.
func (e *testEnv) setHealthyImage(name, image string) {
	e.update(name, func(ro *stepwisev1alpha1.Rollout) {
		ro.Spec.Template.Spec.Containers[0].Image = image
		ro.Spec.Template.Labels = map[string]string{"app": "web"}
	})
}

// waitComplete waits until the Rollout's current generation is fully rolled out: every
// desired pod runs the current template and is available, no old ReplicaSet has pods.
func (e *testEnv) waitComplete(name string) *stepwisev1alpha1.Rollout {
	e.T.Helper()
	var ro *stepwisev1alpha1.Rollout
	e.G.Eventually(func(g Gomega) {
		ro = e.get(name)
		g.Expect(ro.Status.ObservedGeneration).To(Equal(ro.Generation))
		replicas := *ro.Spec.Replicas
		g.Expect(ro.Status.UpdatedReplicas).To(Equal(replicas))
		g.Expect(ro.Status.Replicas).To(Equal(replicas))
		g.Expect(ro.Status.AvailableReplicas).To(Equal(replicas))
		cond := findCondition(ro, stepwisev1alpha1.ConditionProgressing)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonNewReplicaSetAvailable))
	}).Should(Succeed())
	return ro
}

func findCondition(ro *stepwisev1alpha1.Rollout, t string) *metav1.Condition {
	for i := range ro.Status.Conditions {
		if ro.Status.Conditions[i].Type == t {
			return &ro.Status.Conditions[i]
		}
	}
	return nil
}

func (e *testEnv) replicaSets() []appsv1.ReplicaSet {
	e.T.Helper()
	list := &appsv1.ReplicaSetList{}
	e.G.Expect(k8s.List(e.Ctx, list, client.InNamespace(e.NS))).To(Succeed())
	return list.Items
}

// replicaSetFor returns the ReplicaSet running image; it fails when there is not exactly one.
func (e *testEnv) replicaSetFor(image string) appsv1.ReplicaSet {
	e.T.Helper()
	return e.replicaSetOf(e.G, image)
}

// replicaSetOf is replicaSetFor reporting to g, so that Eventually can wait for it.
func (e *testEnv) replicaSetOf(g Gomega, image string) appsv1.ReplicaSet {
	var found []appsv1.ReplicaSet
	for _, rs := range e.replicaSets() {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			found = append(found, rs)
		}
	}
	g.Expect(found).To(HaveLen(1), "ReplicaSets of image %s", image)
	return found[0]
}

func (e *testEnv) events() []string {
	e.T.Helper()
	list := &eventsv1.EventList{}
	e.G.Expect(k8s.List(e.Ctx, list, client.InNamespace(e.NS))).To(Succeed())
	var notes []string
	for _, ev := range list.Items {
		if ev.Regarding.Kind == "Rollout" {
			notes = append(notes, ev.Note)
		}
	}
	return notes
}

// expectNoViolations fails the test with every bound the observer saw broken.
func (e *testEnv) expectNoViolations() {
	e.T.Helper()
	e.G.Expect(e.Obs.Violations()).To(BeEmpty())
}
