package testenv

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

// ServiceAccountKubeconfig writes to path a kubeconfig of the cluster that authenticates as
// the ServiceAccount namespace/name, with a token valid for an hour: a process run with it
// has exactly the permissions bound to that account, as a pod of it would.
func (s *Suite) ServiceAccountKubeconfig(ctx context.Context, namespace, name, path string) error {
	token, err := s.Kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token of ServiceAccount %s/%s: %w", namespace, name, err)
	}
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["local"] = &clientcmdapi.Cluster{Server: s.Cluster.Config.Host, CertificateAuthorityData: s.Cluster.Config.CAData}
	kubeconfig.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token.Status.Token}
	kubeconfig.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: name}
	kubeconfig.CurrentContext = "local"
	return clientcmd.WriteToFile(*kubeconfig, path)
}
