package install

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
	"github.com/stepwise-dev/stepwise/test/observe"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

// previousVersion is the version the upgrade starts from: main's last commit before the CRD
// was trimmed to fit a client-side apply and these install paths were tested, the version an
// existing installation runs (there is no release tag yet). Its history must be in the clone:
// CI checks out main in full.
const previousVersion = "74a3073f7ab733e01ab6f0769ffc31321855a013"

// controllerNamespace and controllerAccount are where the install manifest runs the
// controller, and as whom.
const controllerNamespace, controllerAccount = "stepwise-system", "stepwise-controller"

// gate is the readiness gate that holds one of the rollouts the upgrade must keep.
const gate = "example.com/load-balancer-registered"

// The previous version runs three rollouts stopped half-way: a canary paused at its first
// step, a rolling update whose new pod waits for a readiness gate nobody has set yet, a
// blue-green awaiting promotion. The upgrade applies this version's install manifest over it
// (the CRD first) and replaces the controller as its Deployment would: the new one starts
// beside the old one and waits for the leader lease, the old one stops. Nothing is recreated
// and nothing moves until each rollout is released; released, each completes from where it
// stood, within its bounds, keeping the pods of its new revision.
func TestUpgradeKeepsRolloutsRunning(t *testing.T) {
	g := newG(t)
	ctx := context.Background()
	previous := checkout(t, previousVersion)
	previousManager := filepath.Join(t.TempDir(), "manager")
	g.Expect(testenv.BuildIn(ctx, previous, previousManager, "./cmd/manager")).To(Succeed())

	// The previous version installed as its documentation said: server-side (its CRD was too
	// large for a client-side apply).
	previousManifest := renderInstaller(t, filepath.Join(previous, "config", "default"))
	mustKubectl(t, "apply", "--server-side", "-f", previousManifest)
	t.Cleanup(func() { _, _ = suite.Kubectl("", "delete", "--ignore-not-found", "-f", previousManifest) })
	waitInstalled(g, manifestObjects(t, previousManifest))
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	g.Expect(suite.ServiceAccountKubeconfig(ctx, controllerNamespace, controllerAccount, kubeconfig)).To(Succeed())
	old := startController(t, previousManager, kubeconfig)

	canary, gated, blueGreen := pausedCanary(t), gatedRollingUpdate(t), blueGreenAwaitingPromotion(t)
	envs := []*testenv.Env{canary, gated, blueGreen}
	before := map[string]held{}
	for e, sizes := range map[*testenv.Env][]int32{canary: {1, 3}, gated: {1, 3}, blueGreen: {3, 3}} {
		e.G.Eventually(func(g Gomega) []int32 {
			before[e.NS] = heldState(g, e)
			return before[e.NS].sizes()
		}).Should(Equal(sizes), "the ReplicaSets' sizes half-way")
	}

	manifest := renderInstaller(t, filepath.Join(suite.Root, "config", "default"))
	objects := manifestObjects(t, manifest)
	g.Expect(slices.IndexFunc(objects, isKind("CustomResourceDefinition"))).To(BeNumerically("<", slices.IndexFunc(objects, isKind("Deployment"))),
		"the manifest updates the CRD before the controller")
	mustKubectl(t, "apply", "--server-side", "-f", manifest)
	waitInstalled(g, objects)

	newer := startController(t, suite.Binary("manager"), kubeconfig)
	g.Eventually(newer.Log.String).Should(ContainSubstring("Attempting to acquire leader lease"))
	g.Consistently(newer.Log.String).ShouldNot(ContainSubstring("Successfully acquired lease"), "one controller at a time")
	old.Kill()
	g.Eventually(newer.Log.String).Should(ContainSubstring("Successfully acquired lease"))

	// An edit that moves no pod, so that observedGeneration shows when the new controller has
	// reconciled each Rollout.
	for _, e := range envs {
		e.Update("web", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.RevisionHistoryLimit = ptr.To[int32](9) })
		e.G.Eventually(func() bool { ro := e.Get("web"); return ro.Status.ObservedGeneration == ro.Generation }).Should(BeTrue())
	}
	g.Consistently(func(g Gomega) {
		for _, e := range envs {
			g.Expect(heldState(g, e)).To(Equal(before[e.NS]), "namespace %s", e.NS)
		}
	}).Should(Succeed(), "the new controller recreates nothing and moves nothing on its own")
	canary.WaitPaused("web", stepwisev1alpha1.ReasonCanaryPauseStep)
	blueGreen.WaitPaused("web", stepwisev1alpha1.ReasonAwaitingPromotion)

	mustKubectl(t, "stepwise", "promote", "web", "-n", canary.NS)
	mustKubectl(t, "stepwise", "promote", "web", "-n", blueGreen.NS)
	gated.SignOffUntilComplete("web", gate)
	canary.WaitComplete("web")
	blueGreen.WaitComplete("web")
	for _, e := range envs {
		expectContinued(e, before[e.NS])
		e.ExpectNoViolations()
	}
}

// pausedCanary settles 4 pods of app:v1, then rolls out app:v2 with a canary step of 1 pod and
// a pause until promoted, and waits for the pause.
func pausedCanary(t *testing.T) *testenv.Env {
	e := testenv.New(t, suite, time.Minute)
	ro := testutil.Rollout("web").Namespace(e.NS).Replicas(4).Surge("1").Unavailable("0").
		Steps(stepwisev1alpha1.CanaryStep{Replicas: ptr.To(intstr.FromInt32(1)), Pause: &stepwisev1alpha1.CanaryPause{}}).Obj()
	e.Settle(ro, observe.Bounds{MaxReplicas: 5, MinAvailable: 4})
	e.SetImage("web", "app:v2")
	e.WaitPaused("web", stepwisev1alpha1.ReasonCanaryPauseStep)
	return e
}

// gatedRollingUpdate settles 3 pods of app:v1 behind a readiness gate, then rolls out app:v2
// and waits for its first pod, which stays unready, and the rollout with it, until the gate is
// set.
func gatedRollingUpdate(t *testing.T) *testenv.Env {
	e := testenv.New(t, suite, time.Minute)
	ro := testutil.Rollout("web").Namespace(e.NS).Replicas(3).Surge("1").Unavailable("0").Obj()
	ro.Spec.Template.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
	e.Create(ro)
	e.SignOffUntilComplete("web", gate)
	e.Obs.SetBounds(observe.Bounds{MaxReplicas: 4, MinAvailable: 3})
	e.SetImage("web", "app:v2")
	e.G.Eventually(e.ReplicaSets).Should(HaveLen(2))
	return e
}

// blueGreenAwaitingPromotion settles 3 pods of app:v1 behind the Service web-active, then
// rolls out app:v2 behind web-preview and waits until it awaits promotion.
func blueGreenAwaitingPromotion(t *testing.T) *testenv.Env {
	e := testenv.New(t, suite, time.Minute)
	for _, name := range []string{"web-active", "web-preview"} {
		e.Create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.NS},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}})
	}
	ro := testutil.Rollout("web").Namespace(e.NS).Replicas(3).BlueGreen(stepwisev1alpha1.BlueGreenStrategy{
		ActiveService: "web-active", PreviewService: "web-preview", ScaleDownDelaySeconds: ptr.To[int32](1)}).Obj()
	e.Settle(ro, observe.Bounds{MaxReplicas: 6, MinAvailable: 3})
	e.SetImage("web", "app:v2")
	e.WaitPaused("web", stepwisev1alpha1.ReasonAwaitingPromotion)
	return e
}

// held is what a namespace's rollout stands on: its ReplicaSets, pods and Service selectors,
// by name.
type held struct {
	ReplicaSets map[string]replicaSetState
	Pods        map[string]podState
	Selectors   map[string]map[string]string
}

// sizes are the ReplicaSets' desired replicas, smallest first.
func (h held) sizes() []int32 {
	var sizes []int32
	for _, rs := range h.ReplicaSets {
		sizes = append(sizes, rs.Replicas)
	}
	slices.Sort(sizes)
	return sizes
}

type replicaSetState struct {
	UID      types.UID
	Replicas int32
}

type podState struct {
	UID        types.UID
	ReplicaSet string
}

// heldState reads e's namespace once nothing is in flight there: the Rollout's status is of
// its current generation, every ReplicaSet has the pods it desires and no pod is terminating.
func heldState(g Gomega, e *testenv.Env) held {
	ro := e.Get("web")
	g.Expect(ro.Status.ObservedGeneration).To(Equal(ro.Generation))
	st := held{ReplicaSets: map[string]replicaSetState{}, Pods: map[string]podState{}, Selectors: map[string]map[string]string{}}
	rss := &appsv1.ReplicaSetList{}
	g.Expect(e.Client.List(e.Ctx, rss, client.InNamespace(e.NS))).To(Succeed())
	for _, rs := range rss.Items {
		g.Expect(rs.Status.Replicas).To(Equal(*rs.Spec.Replicas), "ReplicaSet %s has the pods it desires", rs.Name)
		st.ReplicaSets[rs.Name] = replicaSetState{UID: rs.UID, Replicas: *rs.Spec.Replicas}
	}
	pods := &corev1.PodList{}
	g.Expect(e.Client.List(e.Ctx, pods, client.InNamespace(e.NS))).To(Succeed())
	for _, p := range pods.Items {
		g.Expect(p.DeletionTimestamp).To(BeNil(), "pod %s is not terminating", p.Name)
		owner := metav1.GetControllerOf(&p)
		g.Expect(owner).NotTo(BeNil(), "pod %s has a ReplicaSet", p.Name)
		st.Pods[p.Name] = podState{UID: p.UID, ReplicaSet: owner.Name}
	}
	services := &corev1.ServiceList{}
	g.Expect(e.Client.List(e.Ctx, services, client.InNamespace(e.NS))).To(Succeed())
	for _, svc := range services.Items {
		st.Selectors[svc.Name] = svc.Spec.Selector
	}
	return st
}

// expectContinued checks a completed rollout against what it held before the upgrade: the
// same ReplicaSets (none recreated, none added), and every pod its new revision had then still
// there (none restarted).
func expectContinued(e *testenv.Env, before held) {
	e.T.Helper()
	e.G.Eventually(func(g Gomega) {
		after := heldState(g, e)
		g.Expect(after.ReplicaSets).To(HaveLen(len(before.ReplicaSets)))
		current := ""
		for name, rs := range before.ReplicaSets {
			g.Expect(after.ReplicaSets).To(HaveKeyWithValue(name, HaveField("UID", rs.UID)), "ReplicaSet %s is kept", name)
			if after.ReplicaSets[name].Replicas > 0 {
				current = name
			}
		}
		for name, pod := range before.Pods {
			if pod.ReplicaSet == current {
				g.Expect(after.Pods).To(HaveKeyWithValue(name, pod), "pod %s of the new revision is kept", name)
			}
		}
	}).Should(Succeed())
}

// checkout returns commit's source tree, extracted once into the checkout's .local/ and kept
// there: built from the same directory again, go build finds every package in its cache and
// only links. It fails the test when the clone lacks the commit, as a shallow one does.
func checkout(t *testing.T, commit string) string {
	t.Helper()
	dir := filepath.Join(suite.Root, ".local", "upgrade", "source-"+commit)
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	if err := exec.Command("git", "-C", suite.Root, "cat-file", "-e", commit+"^{commit}").Run(); err != nil {
		t.Fatalf("the upgrade starts from commit %s, which this clone lacks (%v): it needs main's history (git fetch --unshallow origin main)", commit, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	extracting, err := os.MkdirTemp(filepath.Dir(dir), "extracting-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(extracting) // left only if the rename below fails
	tarball := filepath.Join(t.TempDir(), "source.tar")
	for _, cmd := range []*exec.Cmd{
		exec.Command("git", "-C", suite.Root, "archive", "--output="+tarball, commit),
		exec.Command("tar", "-x", "-f", tarball, "-C", extracting),
	} {
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	alignDependencies(t, extracting)
	// Whole or not at all; a run alongside that got there first leaves the same tree.
	if err := os.Rename(extracting, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// alignDependencies moves the previous version's required modules to the versions this
// checkout requires (patch releases of the same libraries, the code unchanged), so that its
// build finds the packages this checkout's build compiled instead of compiling a second copy of
// Kubernetes' libraries.
func alignDependencies(t *testing.T, dir string) {
	t.Helper()
	requires := func(dir string) map[string]string {
		cmd := exec.Command("go", "mod", "edit", "-json")
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go mod edit -json in %s: %v", dir, err)
		}
		var mod struct {
			Require []struct{ Path, Version string }
		}
		if err := json.Unmarshal(out, &mod); err != nil {
			t.Fatal(err)
		}
		versions := map[string]string{}
		for _, r := range mod.Require {
			versions[r.Path] = r.Version
		}
		return versions
	}
	current := requires(suite.Root)
	args := []string{"mod", "edit"}
	for path, version := range requires(dir) {
		if now, ok := current[path]; ok && now != version {
			args = append(args, "-require="+path+"@"+now)
		}
	}
	edit := exec.Command("go", args...)
	edit.Dir = dir
	if out, err := edit.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", edit, err, out)
	}
	sums, err := os.ReadFile(filepath.Join(suite.Root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "go.sum"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.Write(sums)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
}

// startController runs a manager binary as the install manifest runs it: as its
// ServiceAccount, with leader election in its namespace (short leases, so that a handover takes
// seconds). It is killed when the test ends, and its log shown if the test failed.
func startController(t *testing.T, binary, kubeconfig string) *testenv.Controller {
	t.Helper()
	c, err := suite.StartControllerBinary(binary, "--kubeconfig="+kubeconfig, "--leader-elect", "--leader-election-namespace="+controllerNamespace,
		"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=500ms")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Kill()
		if t.Failed() {
			t.Logf("log of %s:\n%s", binary, c.Log.Tail())
		}
	})
	return c
}

// isKind matches the objects of a kind.
func isKind(kind string) func(*unstructured.Unstructured) bool {
	return func(obj *unstructured.Unstructured) bool { return obj.GetKind() == kind }
}
