// Package generated checks that the committed generated files are what controller-gen makes
// of the current sources.
package generated

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stepwise-dev/stepwise/test/cluster"
)

func TestGeneratedFilesAreCurrent(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// make test names the pinned controller-gen; a plain go test finds the one make built.
	controllerGen := os.Getenv("CONTROLLER_GEN")
	if found, _ := filepath.Glob(filepath.Join(root, ".local", "bin", "controller-gen-*")); controllerGen == "" && len(found) == 1 {
		controllerGen = found[0]
	}
	if controllerGen == "" {
		t.Fatal("no controller-gen: run this test through `make test`, which builds it")
	}
	for _, tc := range []struct {
		committed string
		args      []string
	}{
		{"api/v1alpha1/zz_generated.deepcopy.go", []string{"object:headerFile=hack/boilerplate.go.txt", "paths=./api/...", "output:object:stdout"}},
		{"config/crd/bases/stepwise.dev_rollouts.yaml", []string{"crd:generateEmbeddedObjectMeta=true", "paths=./api/...", "output:crd:stdout"}},
		{"config/rbac/role.yaml", []string{"rbac:roleName=stepwise-controller", "paths=./internal/...", "output:rbac:stdout"}},
	} {
		t.Run(tc.committed, func(t *testing.T) {
			cmd := exec.Command(controllerGen, tc.args...)
			cmd.Dir = root
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("controller-gen %v: %v\n%s", tc.args, err, stderr.String())
			}
			got, err := os.ReadFile(filepath.Join(root, tc.committed))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale: run `make generate manifests` and commit the result", tc.committed)
			}
		})
	}
}
