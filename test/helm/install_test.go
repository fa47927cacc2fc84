package helm

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/stepwise-dev/stepwise/internal/testutil"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

func newEnv(t *testing.T) *testenv.Env {
	t.Helper()
	return testenv.New(t, suite, 2*time.Minute)
}

// A release installs the CRD, the RBAC and a controller whose pod the restricted Pod Security
// Standard admits; an upgrade with new values changes the Deployment; uninstalling removes
// everything but the CRD (crd.keep), so the users' Rollouts survive it.
func TestInstallUpgradeUninstall(t *testing.T) {
	e := newEnv(t)
	ns := &corev1.Namespace{}
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Name: e.NS}, ns)).To(Succeed())
	ns.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	e.G.Expect(e.Client.Update(e.Ctx, ns)).To(Succeed())

	// --wait: until the Deployment's pod (run by kwok) is available.
	helm(t, "install", "stepwise", chartDir, "--namespace", e.NS, "--wait", "--timeout=2m")
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Name: "rollouts.stepwise.dev"}, crd)).To(Succeed())
	e.G.Expect(crd.GetAnnotations()).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
	e.G.Eventually(func(g Gomega) {
		g.Expect(e.Client.Create(e.Ctx, testutil.Rollout("web").Namespace(e.NS).Obj())).To(Succeed())
	}).Should(Succeed(), "the CRD serves Rollouts")

	installed := deployment(e, "stepwise-controller")
	e.G.Expect(installed.Status.AvailableReplicas).To(Equal(int32(1)))
	e.G.Expect(installed.Spec.Template.Spec.Containers[0].Image).To(Equal("stepwise-controller:latest"))
	data, err := os.ReadFile(filepath.Join(suite.Root, "config", "rbac", "role.yaml"))
	e.G.Expect(err).NotTo(HaveOccurred())
	generated := &rbacv1.ClusterRole{}
	e.G.Expect(yaml.Unmarshal(data, generated)).To(Succeed())
	role := &rbacv1.ClusterRole{}
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Name: "stepwise-controller"}, role)).To(Succeed())
	e.G.Expect(role.Rules).To(Equal(generated.Rules))
	binding := &rbacv1.ClusterRoleBinding{}
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Name: "stepwise-controller"}, binding)).To(Succeed())
	e.G.Expect(binding.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: "stepwise-controller", Namespace: e.NS}))

	helm(t, "upgrade", "stepwise", chartDir, "--namespace", e.NS, "--wait", "--timeout=2m",
		"-f", valuesFile(t, "manager: {replicas: 2, extraArgs: [--kube-api-qps=50]}"))
	upgraded := deployment(e, "stepwise-controller")
	e.G.Expect(upgraded.Generation).To(BeNumerically(">", installed.Generation))
	e.G.Expect(*upgraded.Spec.Replicas).To(Equal(int32(2)))
	e.G.Expect(upgraded.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--kube-api-qps=50"))
	e.G.Expect(upgraded.Status.UpdatedReplicas).To(Equal(int32(2)))
	e.G.Expect(upgraded.Status.AvailableReplicas).To(Equal(int32(2)))
	e.G.Expect(helm(t, "history", "stepwise", "--namespace", e.NS, "--output", "yaml")).To(ContainSubstring("revision: 2"))

	helm(t, "uninstall", "stepwise", "--namespace", e.NS, "--wait", "--timeout=2m")
	for _, obj := range []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: e.NS, Name: "stepwise-controller"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: e.NS, Name: "stepwise-controller"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: e.NS, Name: "stepwise-leader-election"}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: e.NS, Name: "stepwise-leader-election"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "stepwise-controller"}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "stepwise-controller"}},
	} {
		e.G.Eventually(func() error {
			return e.Client.Get(e.Ctx, client.ObjectKeyFromObject(obj), obj)
		}).Should(Satisfy(apierrors.IsNotFound), "%T %s", obj, obj.GetName())
	}
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Name: crd.GetName()}, crd)).To(Succeed())
	e.Get("web")
}

// deployment reads the Deployment name of the test's namespace.
func deployment(e *testenv.Env, name string) *appsv1.Deployment {
	e.T.Helper()
	d := &appsv1.Deployment{}
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: name}, d)).To(Succeed())
	return d
}
