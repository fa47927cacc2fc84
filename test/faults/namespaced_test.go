package faults

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// With --namespace the controller manages one namespace and needs only a Role there: the
// generated ClusterRole's rules, namespaced. A Rollout elsewhere is left alone.
func TestNamespacedModeNeedsOnlyARole(t *testing.T) {
	e, other := newEnv(t), newEnv(t)
	data, err := os.ReadFile(filepath.Join(suite.Root, "config", "rbac", "role.yaml"))
	e.G.Expect(err).NotTo(HaveOccurred())
	clusterRole := &rbacv1.ClusterRole{}
	e.G.Expect(yaml.Unmarshal(data, clusterRole)).To(Succeed())

	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "stepwise-controller", Namespace: e.NS}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "stepwise-controller", Namespace: e.NS}, Rules: clusterRole.Rules}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "stepwise-controller", Namespace: e.NS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: e.NS}},
	}
	e.Create(sa)
	e.Create(role)
	e.Create(binding)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	e.G.Expect(suite.ServiceAccountKubeconfig(e.Ctx, e.NS, sa.Name, path)).To(Succeed())

	c := startController(t, "--namespace="+e.NS, "--kubeconfig="+path)
	e.Create(e.rollout(3, one, one, "0s"))
	e.WaitComplete("web")
	e.SetImage("web", "app:v1")
	e.WaitComplete("web")
	e.expectConverged()

	// Outside its namespace it does nothing (and is allowed nothing).
	other.Create(other.rollout(1, one, one, "0s"))
	e.G.Consistently(func() int64 { return other.Get("web").Status.ObservedGeneration }, "2s").Should(BeZero())
	e.G.Expect(c.Log.String()).NotTo(ContainSubstring("forbidden"))
}
