// Package testenv is the toolkit of the test packages that run on the local cluster: Main
// starts the cluster a package shares and builds the binaries it runs; New gives each test its
// own namespace and a bound-checking observer of it; Env holds the reads, writes and waits the
// tests share.
package testenv

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
func New(t *testing.T, s *Suite, timeout time.Duration) *Env {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := s.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	obs, err := observe.Start(s.Kube, ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		obs.Stop()
		_ = s.Client.Delete(context.Background(), ns)
	})
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(timeout)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	g.SetDefaultConsistentlyDuration(2 * time.Second)
	g.SetDefaultConsistentlyPollingInterval(100 * time.Millisecond)
	return &Env{T: t, G: g, NS: ns.Name, Obs: obs, Ctx: ctx, Client: s.Client}
}

// Create creates an object, failing the test on error.
func (e *Env) Create(obj client.Object) {
	e.T.Helper()
	e.G.Expect(e.Client.Create(e.Ctx, obj)).To(Succeed())
}

// Get reads the Rollout name of the test's namespace.
func (e *Env) Get(name string) *stepwisev1alpha1.Rollout {
	e.T.Helper()
	return e.get(e.G, name)
}

// get is Get reporting to g, so that Eventually can retry it.
func (e *Env) get(g Gomega, name string) *stepwisev1alpha1.Rollout {
	ro := &stepwisev1alpha1.Rollout{}
	g.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: name}, ro)).To(Succeed())
	return ro
}

// Update changes the Rollout name, retrying on conflicts.
func (e *Env) Update(name string, mutate func(*stepwisev1alpha1.Rollout)) {
	e.T.Helper()
	e.G.Eventually(func(g Gomega) {
		ro := e.get(g, name)
		mutate(ro)
		g.Expect(e.Client.Update(e.Ctx, ro)).To(Succeed())
	}).Should(Succeed())
}

// SetImage changes the image of the Rollout's first container: a new release.
func (e *Env) SetImage(name, image string) {
	e.T.Helper()
	e.Update(name, func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Template.Spec.Containers[0].Image = image })
}

// WaitComplete waits until the Rollout's current generation is fully rolled out: every desired
// pod runs the current template and is available, no old ReplicaSet has pods, and the status,
// Progressing and Complete say so for the current generation.
func (e *Env) WaitComplete(name string) *stepwisev1alpha1.Rollout {
	e.T.Helper()
	var ro *stepwisev1alpha1.Rollout
	e.G.Eventually(func(g Gomega) {
		ro = e.get(g, name)
		g.Expect(ro.Status.ObservedGeneration).To(Equal(ro.Generation))
		replicas := *ro.Spec.Replicas
		g.Expect(ro.Status.UpdatedReplicas).To(Equal(replicas))
		g.Expect(ro.Status.Replicas).To(Equal(replicas))
		g.Expect(ro.Status.AvailableReplicas).To(Equal(replicas))
		progressing := meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionProgressing)
		g.Expect(progressing).NotTo(BeNil())
		g.Expect(progressing.Reason).To(Equal(stepwisev1alpha1.ReasonNewReplicaSetAvailable))
		complete := meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionComplete)
		g.Expect(complete).NotTo(BeNil())
		g.Expect(complete.ObservedGeneration).To(Equal(ro.Generation))
		g.Expect(complete.Status).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())
	return ro
}

// Settle creates ro, waits until it is fully rolled out, and from then on has the observer hold
// every state to bounds.
func (e *Env) Settle(ro *stepwisev1alpha1.Rollout, bounds observe.Bounds) {
	e.T.Helper()
	e.Create(ro)
	e.WaitComplete(ro.Name)
	e.Obs.SetBounds(bounds)
}

// ReplicaSets lists the ReplicaSets of the test's namespace.
func (e *Env) ReplicaSets() []appsv1.ReplicaSet {
	e.T.Helper()
	list := &appsv1.ReplicaSetList{}
	e.G.Expect(e.Client.List(e.Ctx, list, client.InNamespace(e.NS))).To(Succeed())
	return list.Items
}

// ExpectNoViolations fails the test with every bound the observer saw broken.
func (e *Env) ExpectNoViolations() {
	e.T.Helper()
	e.G.Expect(e.Obs.Violations()).To(BeEmpty())
}

// WaitPaused waits for the Paused condition with reason and returns the Rollout.
func (e *Env) WaitPaused(name, reason string) *stepwisev1alpha1.Rollout {
	e.T.Helper()
	var ro *stepwisev1alpha1.Rollout
	e.G.Eventually(func(g Gomega) {
		ro = e.get(g, name)
		cond := meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionPaused)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cond.Reason).To(Equal(reason))
		g.Expect(ro.Status.ObservedGeneration).To(Equal(ro.Generation))
	}).Should(Succeed())
	return ro
}

// SetPodCondition sets a condition True on every pod of the namespace, as a load balancer
// controller or a smoke test would.
func (e *Env) SetPodCondition(conditionType string) {
	e.T.Helper()
	e.setPodCondition(e.G, conditionType)
}

// setPodCondition is SetPodCondition reporting to g, so that Eventually can retry it.
func (e *Env) setPodCondition(g Gomega, conditionType string) {
	pods := &corev1.PodList{}
	g.Expect(e.Client.List(e.Ctx, pods, client.InNamespace(e.NS))).To(Succeed())
	for _, p := range pods.Items {
		patch := []byte(`{"status":{"conditions":[{"type":"` + conditionType + `","status":"True"}]}}`)
		g.Expect(client.IgnoreNotFound(e.Client.Status().Patch(e.Ctx, &p, client.RawPatch(types.StrategicMergePatchType, patch)))).To(Succeed())
	}
}

// SignOffUntilComplete keeps setting conditionType on every pod, new ones included, until the
// rollout of the Rollout name is complete.
func (e *Env) SignOffUntilComplete(name, conditionType string) {
	e.T.Helper()
	e.G.Eventually(func(g Gomega) {
		e.setPodCondition(g, conditionType)
		ro := e.get(g, name)
		g.Expect(ro.Status.UpdatedReplicas).To(Equal(*ro.Spec.Replicas))
		g.Expect(ro.Status.AvailableReplicas).To(Equal(*ro.Spec.Replicas))
		g.Expect(ro.Status.Replicas).To(Equal(*ro.Spec.Replicas))
	}).Should(Succeed())
	e.WaitComplete(name)
}
