package testenv

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

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
	"github.com/stepwise-dev/stepwise/test/cluster"
)

// Options say what a test package needs besides the local cluster and the project's CRDs.
type Options struct {
	// Cluster configures the local cluster; Main chooses its Dir.
	Cluster cluster.Options
	// Build lists the packages built before the tests, as users build them ("./cmd/manager",
	// "./cmd/kubectl-stepwise").
	Build []string
	// ClientQPS and ClientBurst give the tests' own client a rate limit of its own; zero keeps
	// client-go's.
	ClientQPS   float32
	ClientBurst int
	// WithoutCRDs leaves the cluster without the project's CRDs, for tests that install them
	// as users do.
	WithoutCRDs bool
}

// Suite is the local cluster one test package shares, with clients of it.
type Suite struct {
	Cluster *cluster.Cluster
	// Root is the repository.
	Root string
	// Scheme knows client-go's types and Stepwise's.
	Scheme *runtime.Scheme
	Client client.Client
	Kube   kubernetes.Interface
	// ControllerLog, when setup sets it, is printed (its last lines) if the run fails.
	ControllerLog *testutil.Log

	binDir     string // the binaries of Options.Build
	afterTests []func() error
}

// Main starts the local cluster with the project's CRDs (unless Options.WithoutCRDs), builds
// Options.Build, calls setup, runs the tests, then what setup registered with AfterTests; it
// returns the exit code.
//
//	func TestMain(m *testing.M) {
//		os.Exit(testenv.Main(m, testenv.Options{}, func(s *testenv.Suite) error { suite = s; return nil }))
//	}
func Main(m *testing.M, opts Options, setup func(*Suite) error) int {
	dir, err := os.MkdirTemp("", "stepwise-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, err := start(dir, opts)
	if s != nil && s.Cluster != nil {
		defer s.Cluster.Stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test suite:", err)
		return 1
	}
	var code int
	if err := setup(s); err != nil {
		fmt.Fprintln(os.Stderr, "setting up the test suite:", err)
		code = 1
	} else {
		code = m.Run()
	}
	for i := len(s.afterTests) - 1; i >= 0; i-- {
		if err := s.afterTests[i](); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if code != 0 && s.ControllerLog != nil {
		// The controller's log is the first thing to read when a test fails.
		fmt.Fprintf(os.Stderr, "--- last controller log lines:\n%s\n", s.ControllerLog.Tail())
	}
	return code
}

// start brings up the cluster in dir, clients of it and the binaries.
func start(dir string, opts Options) (*Suite, error) {
	ctx := context.Background()
	root, err := cluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	s := &Suite{Root: root, binDir: filepath.Join(dir, "bin"), Scheme: runtime.NewScheme()}
	if err := clientgoscheme.AddToScheme(s.Scheme); err != nil {
		return nil, err
	}
	if err := stepwisev1alpha1.AddToScheme(s.Scheme); err != nil {
		return nil, err
	}
	if len(opts.Build) > 0 {
		if err := Build(ctx, s.binDir+string(filepath.Separator), opts.Build...); err != nil {
			return nil, err
		}
	}
	opts.Cluster.Dir = filepath.Join(dir, "cluster")
	if s.Cluster, err = cluster.Start(ctx, opts.Cluster); err != nil {
		return s, fmt.Errorf("starting the local cluster: %w", err)
	}
	if !opts.WithoutCRDs {
		if err := s.Cluster.InstallCRDs(ctx, filepath.Join(root, "config", "crd")); err != nil {
			return s, err
		}
	}
	config := rest.CopyConfig(s.Cluster.Config)
	config.QPS, config.Burst = opts.ClientQPS, opts.ClientBurst
	if s.Client, err = client.New(config, client.Options{Scheme: s.Scheme}); err != nil {
		return s, err
	}
	if s.Kube, err = kubernetes.NewForConfig(s.Cluster.Config); err != nil {
		return s, err
	}
	return s, nil
}

// Binary is the path of a binary Options.Build built ("manager", "kubectl-stepwise").
func (s *Suite) Binary(name string) string { return filepath.Join(s.binDir, name) }

// AfterTests registers f to run once the tests have run, the last registered first; an error
// fails the run.
func (s *Suite) AfterTests(f func() error) { s.afterTests = append(s.afterTests, f) }

// Build compiles pkgs as `go build -o out` does, from the repository root: out is a directory
// when it ends with a separator.
func Build(ctx context.Context, out string, pkgs ...string) error {
	root, err := cluster.RepoRoot()
	if err != nil {
		return err
	}
	return goBuild(ctx, root, nil, out, pkgs...)
}

// BuildIn is Build from the module in dir (another version's source tree), by its own go.mod
// rather than the workspace of the checkout it lies in; -mod=mod lets go complete that go.mod
// when its requirements were moved (the upgrade test's alignDependencies).
func BuildIn(ctx context.Context, dir, out string, pkgs ...string) error {
	return goBuild(ctx, dir, []string{"GOWORK=off", "GOFLAGS=-mod=mod"}, out, pkgs...)
}

func goBuild(ctx context.Context, dir string, env []string, out string, pkgs ...string) error {
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", out}, pkgs...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if data, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s in %s: %w\n%s", strings.Join(pkgs, " "), dir, err, data)
	}
	return nil
}

// Kubectl runs kubectl against the cluster, as a user would, and returns its stdout; stderr
// joins the error. kubectl finds the plugins Options.Build built as a user's kubectl finds them
// on PATH.
func (s *Suite) Kubectl(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Cluster.Kubeconfig, "PATH="+s.binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}
