// Package architecture checks the dependency rules of the design: the rollout arithmetic
// stays pure, the plugin never reaches into the controller.
package architecture

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stepwise-dev/stepwise/test/cluster"
)

const module = "github.com/stepwise-dev/stepwise/"

var purePackages = []string{"internal/analysis", "internal/migration", "internal/planner", "internal/revision", "internal/status"}

func goList(t *testing.T, format string, pkgs ...string) []string {
	t.Helper()
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", append([]string{"list", "-f", format}, pkgs...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", pkgs, err)
	}
	return strings.Fields(string(out))
}

// The pure packages reach no API client and import no logger or clock source of their own.
// (Kubernetes' types bring klog and logr in transitively, through apimachinery; they are never
// called from these packages.)
func TestPurePackagesStayPure(t *testing.T) {
	for _, pkg := range purePackages {
		for _, dep := range goList(t, "{{join .Deps \" \"}}", "./"+pkg) {
			for _, forbidden := range []string{"sigs.k8s.io/controller-runtime/pkg/client", "k8s.io/client-go/kubernetes", "k8s.io/client-go/rest"} {
				if dep == forbidden {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
		for _, imp := range goList(t, "{{join .Imports \" \"}}", "./"+pkg) {
			if strings.Contains(imp, "logr") || strings.Contains(imp, "klog") || strings.HasPrefix(imp, "sigs.k8s.io/controller-runtime") || imp == module+"internal/controller/rollout" {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
}

func TestPurePackagesNeverReadTheClock(t *testing.T) {
	root, _ := cluster.RepoRoot()
	clock := regexp.MustCompile(`time\.(Now|Since|Until)\(`)
	for _, pkg := range purePackages {
		files, _ := filepath.Glob(filepath.Join(root, pkg, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if clock.Match(data) {
				t.Errorf("%s reads the clock: take the time as an input", f)
			}
		}
	}
}

func TestPluginNeverImportsTheController(t *testing.T) {
	for _, dep := range goList(t, "{{join .Deps \" \"}}", "./internal/plugin", "./cmd/kubectl-stepwise") {
		if dep == module+"internal/controller/rollout" {
			t.Errorf("the plugin depends on the controller")
		}
	}
}
