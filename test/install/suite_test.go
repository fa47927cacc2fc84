// Package install installs Stepwise on the local cluster the ways its users do (kubectl apply
// of the install manifest, client-side and server-side, and of the kustomization) and upgrades
// it under running rollouts. It runs its own cluster without the CRDs the other suites install,
// and its tests run one after another: each owns the cluster-scoped objects it installs.
package install

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/stepwise-dev/stepwise/test/testenv"
)

var suite *testenv.Suite

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{Build: []string{"./cmd/manager", "./cmd/kubectl-stepwise"}, WithoutCRDs: true},
		func(s *testenv.Suite) error {
			suite = s
			return nil
		}))
}

// renderInstaller renders the install manifest as `make build-installer` does (kubectl
// kustomize config/default > dist/install.yaml), into a file of the test's own.
func renderInstaller(t *testing.T, configDefault string) string {
	t.Helper()
	out, err := suite.Kubectl("", "kustomize", configDefault)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(t.TempDir(), "install.yaml")
	NewWithT(t).Expect(os.WriteFile(path, []byte(out), 0o600)).To(Succeed())
	return path
}
