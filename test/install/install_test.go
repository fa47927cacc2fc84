package install

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Each way of installing Stepwise creates every object of the install manifest, a second
// apply changes none of them, and delete removes them all.
func TestInstallPaths(t *testing.T) {
	configDefault := filepath.Join(suite.Root, "config", "default")
	manifest := renderInstaller(t, configDefault)
	objects := manifestObjects(t, manifest)
	for _, tc := range []struct {
		name          string
		apply, delete []string
		// unchanged ends each line of kubectl's report of an apply that changed nothing.
		unchanged string
	}{
		{name: "kubectl apply -f install.yaml", apply: []string{"apply", "-f", manifest}, delete: []string{"delete", "-f", manifest}, unchanged: " unchanged"},
		{name: "kubectl apply --server-side -f install.yaml", apply: []string{"apply", "--server-side", "-f", manifest}, delete: []string{"delete", "-f", manifest}, unchanged: " serverside-applied"},
		{name: "kubectl apply -k", apply: []string{"apply", "-k", configDefault}, delete: []string{"delete", "-k", configDefault}, unchanged: " unchanged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newG(t)
			// The next path starts from a cluster without Stepwise even if this one fails.
			t.Cleanup(func() { _, _ = suite.Kubectl("", "delete", "--ignore-not-found", "-f", manifest) })
			mustKubectl(t, tc.apply...)
			waitInstalled(g, objects)
			before := resourceVersions(g, objects)

			out := mustKubectl(t, tc.apply...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			g.Expect(lines).To(HaveLen(len(objects)), "one line for each object:\n%s", out)
			g.Expect(lines).To(HaveEach(HaveSuffix(tc.unchanged)))
			g.Expect(resourceVersions(g, objects)).To(Equal(before), "the second apply wrote nothing")

			mustKubectl(t, tc.delete...)
			g.Eventually(func(g Gomega) {
				for _, obj := range objects {
					err := suite.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj.DeepCopy())
					g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s %s is gone (%v)", obj.GetKind(), obj.GetName(), err)
				}
			}).Should(Succeed())
		})
	}
}

// newG is a gomega for t that waits up to a minute: installing, deleting a namespace and
// rolling out a few simulated pods take seconds.
func newG(t *testing.T) *WithT {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(time.Minute)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	g.SetDefaultConsistentlyDuration(2 * time.Second)
	g.SetDefaultConsistentlyPollingInterval(100 * time.Millisecond)
	return g
}

// mustKubectl runs a kubectl step that must succeed and returns its output.
func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := suite.Kubectl("", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// manifestObjects reads the objects of a multi-document YAML manifest, in their order.
func manifestObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var objects []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return objects
		} else if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		if len(obj.Object) > 0 {
			objects = append(objects, obj)
		}
	}
}

// waitInstalled waits until every object exists, each CRD is established and each Deployment
// has all its (simulated) pods available: they passed admission, the namespace's pod security
// level included.
func waitInstalled(g *WithT, objects []*unstructured.Unstructured) {
	g.Eventually(func(g Gomega) {
		for _, obj := range objects {
			got := obj.DeepCopy()
			g.Expect(suite.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), got)).To(Succeed())
			switch obj.GetKind() {
			case "CustomResourceDefinition":
				crd := &apiextensionsv1.CustomResourceDefinition{}
				g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(got.Object, crd)).To(Succeed())
				g.Expect(crd.Status.Conditions).To(ContainElement(And(
					HaveField("Type", apiextensionsv1.Established), HaveField("Status", apiextensionsv1.ConditionTrue))), "CRD %s is established", crd.Name)
			case "Deployment":
				dep := &appsv1.Deployment{}
				g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(got.Object, dep)).To(Succeed())
				g.Expect(dep.Status.ObservedGeneration).To(Equal(dep.Generation))
				g.Expect(dep.Status.AvailableReplicas).To(Equal(*dep.Spec.Replicas), "Deployment %s is available", dep.Name)
				g.Expect(dep.Status.UpdatedReplicas).To(Equal(*dep.Spec.Replicas))
			}
		}
	}).Should(Succeed())
}

// resourceVersions maps each object to its resourceVersion, which every write changes.
func resourceVersions(g *WithT, objects []*unstructured.Unstructured) map[string]string {
	versions := map[string]string{}
	for _, obj := range objects {
		got := obj.DeepCopy()
		g.Expect(suite.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), got)).To(Succeed())
		versions[obj.GetKind()+" "+client.ObjectKeyFromObject(obj).String()] = got.GetResourceVersion()
	}
	return versions
}
