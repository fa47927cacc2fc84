// Package testenv gives a cluster test its own namespace, a bound-checking observer of it, and
// the read-modify-write helpers the suites share.
package testenv

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/test/observe"
)

// Env is one test's namespace, gomega, observer and client.
type Env struct {
	T      *testing.T
	G      *WithT
	NS     string
	Obs    *observe.Observer
	Ctx    context.Context
	Client client.Client
}

// New creates a namespace (deleted when the test ends) and starts observing it. Eventually
// waits up to timeout.
func New(t *testing.T, c client.Client, kube kubernetes.Interface, timeout time.Duration) *Env {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	obs, err := observe.Start(kube, ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		obs.Stop()
		_ = c.Delete(context.Background(), ns)
	})
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(timeout)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	g.SetDefaultConsistentlyDuration(2 * time.Second)
	g.SetDefaultConsistentlyPollingInterval(100 * time.Millisecond)
	return &Env{T: t, G: g, NS: ns.Name, Obs: obs, Ctx: ctx, Client: c}
}

// Create creates an object, failing the test on error.
func (e *Env) Create(obj client.Object) {
	e.T.Helper()
	e.G.Expect(e.Client.Create(e.Ctx, obj)).To(Succeed())
}

// Get reads the Rollout name of the test's namespace.
func (e *Env) Get(name string) *stepwisev1alpha1.Rollout {
	e.T.Helper()
	ro := &stepwisev1alpha1.Rollout{}
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: name}, ro)).To(Succeed())
	return ro
}

// Update changes the Rollout name, retrying on conflicts.
func (e *Env) Update(name string, mutate func(*stepwisev1alpha1.Rollout)) {
	e.T.Helper()
	e.G.Eventually(func() error {
		ro := e.Get(name)
		mutate(ro)
		return e.Client.Update(e.Ctx, ro)
	}).Should(Succeed())
}
