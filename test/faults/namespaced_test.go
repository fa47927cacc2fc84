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
	token, err := suite.Kube.CoreV1().ServiceAccounts(e.NS).CreateToken(e.Ctx, sa.Name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	e.G.Expect(err).NotTo(HaveOccurred())

	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["local"] = &clientcmdapi.Cluster{Server: suite.Cluster.Config.Host, CertificateAuthorityData: suite.Cluster.Config.CAData}
	kubeconfig.AuthInfos["controller"] = &clientcmdapi.AuthInfo{Token: token.Status.Token}
	kubeconfig.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "controller"}
	kubeconfig.CurrentContext = "local"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	e.G.Expect(clientcmd.WriteToFile(*kubeconfig, path)).To(Succeed())

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
