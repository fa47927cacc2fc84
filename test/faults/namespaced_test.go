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
	e.G.Expect(err).NotTo(HaveOccurred())
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
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
	e.G.Expect(k8s.Create(e.Ctx, sa)).To(Succeed())
	e.G.Expect(k8s.Create(e.Ctx, role)).To(Succeed())
	e.G.Expect(k8s.Create(e.Ctx, binding)).To(Succeed())
	token, err := kube.CoreV1().ServiceAccounts(e.NS).CreateToken(e.Ctx, sa.Name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	e.G.Expect(err).NotTo(HaveOccurred())

	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["local"] = &clientcmdapi.Cluster{Server: localCluster.Config.Host, CertificateAuthorityData: localCluster.Config.CAData}
	kubeconfig.AuthInfos["controller"] = &clientcmdapi.AuthInfo{Token: token.Status.Token}
	kubeconfig.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "controller"}
	kubeconfig.CurrentContext = "local"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	e.G.Expect(clientcmd.WriteToFile(*kubeconfig, path)).To(Succeed())

	c := startController(t, "--namespace="+e.NS, "--kubeconfig="+path)
	e.G.Expect(k8s.Create(e.Ctx, e.rollout(3, one, one, "0s"))).To(Succeed())
	e.waitComplete()
	e.update(func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Template.Spec.Containers[0].Image = "app:v1" })
	e.waitComplete()
	e.expectConverged()

	// Outside its namespace it does nothing (and is allowed nothing).
	e.G.Expect(k8s.Create(other.Ctx, other.rollout(1, one, one, "0s"))).To(Succeed())
	e.G.Consistently(func() int64 { return other.get().Status.ObservedGeneration }, "2s").Should(BeZero())
	e.G.Expect(c.log.String()).NotTo(ContainSubstring("forbidden"))
}
