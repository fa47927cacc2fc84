package faults

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/test/cluster"
)

// With --namespace the controller manages one namespace and needs only a Role there: the
// generated ClusterRole's rules, namespaced. A Rollout elsewhere is left alone.
func TestNamespacedModeNeedsOnlyARole(t *testing.T) {
	e, other := newEnv(t), newEnv(t)
	root, err := cluster.RepoRoot()
	e.g.Expect(err).NotTo(HaveOccurred())
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	e.g.Expect(err).NotTo(HaveOccurred())
	clusterRole := &rbacv1.ClusterRole{}
	e.g.Expect(yaml.Unmarshal(data, clusterRole)).To(Succeed())

	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "stepwise-controller", Namespace: e.ns}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "stepwise-controller", Namespace: e.ns}, Rules: clusterRole.Rules}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "stepwise-controller", Namespace: e.ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: e.ns}},
	}
	e.g.Expect(k8s.Create(e.ctx, sa)).To(Succeed())
	e.g.Expect(k8s.Create(e.ctx, role)).To(Succeed())
	e.g.Expect(k8s.Create(e.ctx, binding)).To(Succeed())
	token, err := kube.CoreV1().ServiceAccounts(e.ns).CreateToken(e.ctx, sa.Name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	e.g.Expect(err).NotTo(HaveOccurred())

	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["local"] = &clientcmdapi.Cluster{Server: localCluster.Config.Host, CertificateAuthorityData: localCluster.Config.CAData}
	kubeconfig.AuthInfos["controller"] = &clientcmdapi.AuthInfo{Token: token.Status.Token}
	kubeconfig.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "controller"}
	kubeconfig.CurrentContext = "local"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	e.g.Expect(clientcmd.WriteToFile(*kubeconfig, path)).To(Succeed())

	c := startController(t, "--namespace="+e.ns, "--kubeconfig="+path)
	e.g.Expect(k8s.Create(e.ctx, e.rollout(3, one, one, "0s"))).To(Succeed())
	e.waitComplete()
	e.update(func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Template.Spec.Containers[0].Image = "app:v1" })
	e.waitComplete()
	e.expectConverged()

	// Outside its namespace it does nothing (and is allowed nothing).
	e.g.Expect(k8s.Create(other.ctx, other.rollout(1, one, one, "0s"))).To(Succeed())
	e.g.Consistently(func() int64 { return other.get().Status.ObservedGeneration }, "2s").Should(BeZero())
	e.g.Expect(c.log.String()).NotTo(ContainSubstring("forbidden"))
}
