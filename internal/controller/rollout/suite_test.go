package rollout_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/controller/analysisrun"
	"github.com/stepwise-dev/stepwise/internal/controller/rollout"
	"github.com/stepwise-dev/stepwise/internal/testutil"
	"github.com/stepwise-dev/stepwise/test/cluster"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

var suite *testenv.Suite

// TestMain starts the local cluster and the Rollout controller once for the package.
func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{Cluster: cluster.Options{AuditUser: controllerUser}}, startController))
}

// startController runs the Rollout controller in this process until the tests end, as its
// ServiceAccount with exactly the generated RBAC (config/rbac), and then checks that it used
// exactly those permissions.
func startController(s *testenv.Suite) error {
	suite = s
	s.ControllerLog = &testutil.Log{}
	ctrl.SetLogger(zap.New(zap.WriteTo(s.ControllerLog), zap.Level(zapcore.Level(-2))))
	if _, err := s.Kubectl("", "create", "namespace", "stepwise-system"); err != nil {
		return err
	}
	rbac := filepath.Join(s.Root, "config", "rbac")
	if _, err := s.Kubectl("", "apply", "-k", rbac); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.AfterTests(func() error {
		cancel()
		return nil
	})
	token, err := s.Kube.CoreV1().ServiceAccounts("stepwise-system").CreateToken(ctx, "stepwise-controller",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](6 * 3600)}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting the controller's token: %w", err)
	}
	controllerConfig := rest.AnonymousClientConfig(s.Cluster.Config)
	controllerConfig.BearerToken = token.Status.Token
	mgr, err := ctrl.NewManager(controllerConfig, ctrl.Options{
		Scheme:                 s.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  rollout.CacheOptions(),
	})
	if err != nil {
		return err
	}
	if err := rollout.NewReconciler(mgr).SetupWithManager(mgr, 5); err != nil {
		return err
	}
	if err := analysisrun.NewReconciler(mgr).SetupWithManager(mgr, 5); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	s.AfterTests(func() error { return checkLeastPrivilege(s.Cluster, filepath.Join(rbac, "role.yaml")) })
	return nil
}

// controllerUser is the ServiceAccount config/rbac binds the generated ClusterRole to.
const controllerUser = "system:serviceaccount:stepwise-system:stepwise-controller"

// checkLeastPrivilege fails the run when the controller was refused anything (a missing
// permission) or was granted a verb the whole suite never used (an extra one).
func checkLeastPrivilege(c *cluster.Cluster, role string) error {
	used, forbidden, err := c.AuditedPermissions()
	if err != nil {
		return fmt.Errorf("least privilege: %w", err)
	}
	granted, err := cluster.GrantedPermissions(role)
	if err != nil {
		return fmt.Errorf("least privilege: %w", err)
	}
	var errs []error
	if len(forbidden) > 0 {
		errs = append(errs, fmt.Errorf("least privilege: the controller was refused: %v", forbidden))
	}
	// Only the whole suite uses every permission; a -run subset cannot tell extra ones.
	if runFlag := flag.Lookup("test.run"); runFlag != nil && runFlag.Value.String() != "" {
		return errors.Join(errs...)
	}
	if unused := cluster.Unused(granted, used); len(unused) > 0 {
		errs = append(errs, fmt.Errorf("least privilege: %s grants what the controller never used: %v", role, unused))
	}
	return errors.Join(errs...)
}

// testEnv is one test's environment (see testenv.Env) with this suite's helpers.
type testEnv struct{ *testenv.Env }

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	return &testEnv{testenv.New(t, suite, 90*time.Second)}
}

// terminationDelay is how long a deleted pod stays terminating before kwok removes it
// (STEPWISE_TERMINATION_DELAY, e.g. "2s"; none when unset): make test-differential
// TERMINATION_DELAY=2s holds the bounds with pods that take time to shut down.
var terminationDelay = os.Getenv("STEPWISE_TERMINATION_DELAY")

// newRollout is a RollingUpdate Rollout "web" of image in the test's namespace, whose pods
// terminate for terminationDelay.
func (e *testEnv) newRollout(replicas int32, surge, unavailable intstr.IntOrString, image string) *stepwisev1alpha1.Rollout {
	ro := testutil.Rollout("web").Namespace(e.NS).Replicas(replicas).Surge(surge.String()).Unavailable(unavailable.String()).Image(image).Obj()
	setTerminationDelay(ro, terminationDelay)
	return ro
}

// setTerminationDelay makes ro's pods stay terminating for delay once deleted ("": at once).
func setTerminationDelay(ro *stepwisev1alpha1.Rollout, delay string) {
	if delay != "" {
		metav1.SetMetaDataAnnotation(&ro.Spec.Template.ObjectMeta, "pod-delete.stage.kwok.x-k8s.io/delay", delay)
	}
}

// setNeverReadyImage changes the template to image with pods that never become ready, as a
// version whose readiness probe fails.
func (e *testEnv) setNeverReadyImage(name, image string) {
	e.Update(name, func(ro *stepwisev1alpha1.Rollout) {
		ro.Spec.Template.Spec.Containers[0].Image = image
		ro.Spec.Template.Labels = map[string]string{"app": "web", "stepwise.dev/never-ready": "true"}
	})
}

// setHealthyImage changes the template to image with pods that become ready: the fix after a
// never-ready version.
func (e *testEnv) setHealthyImage(name, image string) {
	e.Update(name, func(ro *stepwisev1alpha1.Rollout) {
		ro.Spec.Template.Spec.Containers[0].Image = image
		ro.Spec.Template.Labels = map[string]string{"app": "web"}
	})
}

// replicaSetFor returns the ReplicaSet running image; it fails when there is not exactly one.
func (e *testEnv) replicaSetFor(image string) appsv1.ReplicaSet {
	e.T.Helper()
	return e.replicaSetOf(e.G, image)
}

// replicaSetOf is replicaSetFor reporting to g, so that Eventually can wait for it.
func (e *testEnv) replicaSetOf(g Gomega, image string) appsv1.ReplicaSet {
	var found []appsv1.ReplicaSet
	for _, rs := range e.ReplicaSets() {
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
	e.G.Expect(e.Client.List(e.Ctx, list, client.InNamespace(e.NS))).To(Succeed())
	var notes []string
	for _, ev := range list.Items {
		if ev.Regarding.Kind == "Rollout" {
			notes = append(notes, ev.Note)
		}
	}
	return notes
}
