// Package helm checks the Helm chart (config/chart) with the helm binary `make tools` builds
// from Helm's Go module: it lints, renders what the plain manifests install, passes a
// server-side dry run, and installs, upgrades and uninstalls on the local cluster, where kwok
// runs the controller's pod as a simulated one (the tests check the objects, not the process).
// Its cluster starts without the CRDs, which the chart installs.
package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/stepwise-dev/stepwise/test/cluster"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

var (
	suite *testenv.Suite
	// helmBinary is the helm `make tools` built; helmHome keeps its configuration and caches
	// out of the user's.
	helmBinary, helmHome string
	chartDir             string
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{WithoutCRDs: true}, func(s *testenv.Suite) error {
		suite = s
		binDir, err := cluster.DefaultBinDir()
		if err != nil {
			return err
		}
		helmBinary = filepath.Join(binDir, "helm")
		if _, err := os.Stat(helmBinary); err != nil {
			return fmt.Errorf("no helm: run `make tools`, which builds it: %w", err)
		}
		helmHome = filepath.Join(s.Cluster.Dir, "helm")
		chartDir = filepath.Join(s.Root, "config", "chart")
		return nil
	}))
}

// runHelm runs helm against the local cluster, as a user would, and returns its stdout; stderr
// joins the error.
func runHelm(args ...string) (string, error) {
	cmd := exec.Command(helmBinary, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+suite.Cluster.Kubeconfig,
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// helm is runHelm failing the test on error.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runHelm(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// valuesFile writes values (YAML) to a file of the test's own, for helm's -f.
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// render is `helm template` of the chart as release in namespace with values (YAML).
func render(t *testing.T, release, namespace, values string) []*unstructured.Unstructured {
	t.Helper()
	return decode(t, helm(t, "template", release, chartDir, "--namespace", namespace, "-f", valuesFile(t, values)))
}

// kustomize is `kubectl kustomize` of a directory of config/.
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, err := suite.Kubectl("", "kustomize", filepath.Join(suite.Root, "config", dir))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

// decode reads a stream of YAML documents.
func decode(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	decoder := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var objs []*unstructured.Unstructured
	for {
		var doc json.RawMessage
		if err := decoder.Decode(&doc); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("reading the rendered objects: %v", err)
		}
		if len(doc) == 0 || string(doc) == "null" {
			continue
		}
		// Unstructured's own decoding keeps integers int64, as the API machinery does.
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(doc); err != nil {
			t.Fatalf("reading the rendered objects: %v", err)
		}
		objs = append(objs, obj)
	}
}

// find returns the object of kind and name among objs, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, obj := range objs {
		if obj.GetKind() == kind && obj.GetName() == name {
			return obj
		}
	}
	return nil
}

// kinds lists "Kind namespace/name" of every object, to compare what two renders hold.
func kinds(objs []*unstructured.Unstructured) []string {
	var ids []string
	for _, obj := range objs {
		ids = append(ids, obj.GetKind()+" "+obj.GetNamespace()+"/"+obj.GetName())
	}
	return ids
}

// field is the value at path in obj, failing g when there is none.
func field(g Gomega, obj *unstructured.Unstructured, path ...string) any {
	value, found, err := unstructured.NestedFieldNoCopy(obj.Object, path...)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue(), "%s %s has no %s", obj.GetKind(), obj.GetName(), strings.Join(path, "."))
	return value
}
