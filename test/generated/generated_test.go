// Package generated checks that the committed generated files are what controller-gen makes
// of the current sources.
package generated

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/stepwise-dev/stepwise/test/cluster"
)

func TestGeneratedFilesAreCurrent(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// make test names the pinned controller-gen; a plain go test finds the one make built.
	controllerGen := os.Getenv("CONTROLLER_GEN")
	if controllerGen == "" {
		controllerGen = filepath.Join(root, ".local", "bin", "controller-gen")
	}
	if _, err := os.Stat(controllerGen); err != nil {
		t.Fatalf("no controller-gen (%v): run this test through `make test`, or `make tools` first", err)
	}
	for _, tc := range []struct {
		committed string
		args      []string
		// trimmed: the output goes through hack/crdtrim, as `make manifests` does.
		trimmed bool
	}{
		{"api/v1alpha1/zz_generated.deepcopy.go", []string{"object:headerFile=hack/boilerplate.go.txt", "paths=./api/...", "output:object:stdout"}, false},
		// controller-gen prints the CRDs in the order of their file names.
		{"config/crd/bases/*.yaml", []string{"crd:generateEmbeddedObjectMeta=true", "paths=./api/...", "output:crd:stdout"}, true},
		{"config/rbac/role.yaml", []string{"rbac:roleName=stepwise-controller", "paths=./internal/...", "output:rbac:stdout"}, false},
	} {
		t.Run(tc.committed, func(t *testing.T) {
			want := run(t, root, nil, controllerGen, tc.args...)
			if tc.trimmed {
				want = run(t, root, want, "go", "run", "./hack/crdtrim")
			}
			got := committed(t, root, tc.committed)
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale: run `make generate manifests` and commit the result", tc.committed)
			}
		})
	}
}

// The chart installs the CRD and grants the permissions config/ generates (hack/chartgen).
func TestChartIsCurrent(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	role, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		committed string
		template  string
		input     []byte
	}{
		{"config/chart/templates/crd/crds.yaml", "crds", run(t, root, nil, "kubectl", "kustomize", "config/crd")},
		{"config/chart/templates/rbac/_controller_rules.tpl", "rules", role},
	} {
		t.Run(tc.committed, func(t *testing.T) {
			want := run(t, root, tc.input, "go", "run", "./hack/chartgen", tc.template)
			got := committed(t, root, tc.committed)
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale: run `make manifests` and commit the result", tc.committed)
			}
		})
	}
}

// committed is the content of the files matching pattern under root, in name order.
func committed(t *testing.T, root, pattern string) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no file matches %s: %v", pattern, err)
	}
	var got []byte
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, data...)
	}
	return got
}

// run runs a command in dir with stdin and returns its output, failing the test on error.
func run(t *testing.T, dir string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	return out
}

// Client-side `kubectl apply` keeps the whole object as JSON in an annotation of at most
// 256 KiB; 200 KB leaves room for the fields still to come.
func TestCRDsFitClientSideApply(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs found: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		asJSON, err := yaml.YAMLToJSON(bytes.TrimPrefix(data, []byte("---\n")))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(asJSON) > 200_000 {
			t.Errorf("%s is %d bytes as JSON, over 200 KB: client-side kubectl apply would refuse it", filepath.Base(file), len(asJSON))
		}
	}
}
