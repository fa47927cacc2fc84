package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/controller/rollout"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

var (
	one     = intstr.FromInt32(1)
	quarter = intstr.FromString("25%")
)

// startRollout changes the image and waits until the observer has seen n states of the
// rollout: a point in its middle, reached by events rather than by time.
func (e *env) startRollout(image string, n int) {
	e.T.Helper()
	base := len(e.Obs.States())
	e.SetImage("web", image)
	e.G.Eventually(func() int { return len(e.Obs.States()) - base }).Should(BeNumerically(">=", n))
}

// The controller is killed (SIGKILL) at a random point of each of 20 rollouts and restarted;
// every rollout completes, no bound breaks, no template gets two ReplicaSets.
func TestControllerKilledDuringRollouts(t *testing.T) {
	const seed = 20261122
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	e := newEnv(t)
	c := startController(t)
	ro := e.rollout(5, one, one, "200ms")
	e.Settle(ro, bounds(ro))

	for i := 1; i <= 20; i++ {
		e.startRollout(fmt.Sprintf("app:v%d", i), rng.IntN(12))
		c.Kill()
		c = startController(t)
		e.WaitComplete("web")
	}
	e.expectConverged()
}

// Two replicas with leader election: only the leader writes; killing it hands over and the
// rollout finishes.
func TestLeaderElectionHandsOver(t *testing.T) {
	e := newEnv(t)
	args := []string{"--leader-elect", "--leader-election-namespace=" + e.NS,
		"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=500ms"}
	a, b := startController(t, args...), startController(t, args...)
	acquired := func(c *testenv.Controller) bool {
		return strings.Contains(c.Log.String(), "Successfully acquired lease")
	}
	e.G.Eventually(func() bool { return acquired(a) || acquired(b) }).Should(BeTrue())
	leader, follower := a, b
	if acquired(b) {
		leader, follower = b, a
	}
	ro := e.rollout(6, one, one, "300ms")
	e.Settle(ro, bounds(ro))

	e.startRollout("app:v1", 6)
	e.G.Expect(acquired(follower)).To(BeFalse())
	writes := func(c *testenv.Controller) bool {
		log := c.Log.String()
		return strings.Contains(log, "Scaling ReplicaSet") || strings.Contains(log, "Creating ReplicaSet")
	}
	e.G.Expect(writes(leader)).To(BeTrue())
	e.G.Expect(writes(follower)).To(BeFalse(), "only the leader writes")

	leader.Kill()
	e.G.Eventually(func() bool { return acquired(follower) }).Should(BeTrue())
	e.WaitComplete("web")
	e.expectConverged()
}

// The API server restarts in the middle of a rollout; the controller reconnects and finishes.
func TestAPIServerRestartMidRollout(t *testing.T) {
	e := newEnv(t)
	startController(t)
	ro := e.rollout(10, quarter, quarter, "500ms")
	e.Settle(ro, bounds(ro))

	e.startRollout("app:v1", 8)
	e.G.Expect(suite.Cluster.RestartAPIServer(context.Background())).To(Succeed())
	e.WaitComplete("web")
	e.expectConverged()
}

// Another client keeps editing the Rollout and its ReplicaSets during a rollout: the
// controller's writes conflict, are retried on fresh reads, and the rollout completes.
func TestConcurrentWritersDuringRollout(t *testing.T) {
	e := newEnv(t)
	startController(t)
	ro := e.rollout(6, one, one, "200ms")
	e.Settle(ro, bounds(ro))

	// The other writer has a client (and rate limit, 5 requests/s) of its own.
	writer, err := client.New(suite.Cluster.Config, client.Options{Scheme: suite.Scheme})
	e.G.Expect(err).NotTo(HaveOccurred())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // annotation edits as fast as the writer's rate limit allows
		defer close(done)
		for n := 0; ctx.Err() == nil; n++ {
			patch := client.RawPatch("application/merge-patch+json", []byte(fmt.Sprintf(`{"metadata":{"annotations":{"other-writer":"%d"}}}`, n)))
			_ = writer.Patch(ctx, &stepwisev1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: e.NS, Name: "web"}}, patch)
			list := &appsv1.ReplicaSetList{}
			if writer.List(ctx, list, client.InNamespace(e.NS)) == nil {
				for i := range list.Items {
					_ = writer.Patch(ctx, &list.Items[i], patch)
				}
			}
		}
	}()
	for _, image := range []string{"app:v1", "app:v2", "app:v3"} {
		e.SetImage("web", image)
		e.WaitComplete("web")
	}
	stop()
	<-done
	e.expectConverged()
}

// handCache stands in for the manager's cache over a direct client: funcs intercept its
// reads, Lists of ReplicaSets answer the cache's index by controller with own() for the
// Rollout and no orphans or Deployments' ReplicaSets, and Lists of AnalysisRuns find none.
func handCache(t *testing.T, own func(ctx context.Context, c client.WithWatch) ([]appsv1.ReplicaSet, error), funcs interceptor.Funcs) (cache, direct client.WithWatch) {
	t.Helper()
	direct, err := client.NewWithWatch(suite.Cluster.Config, client.Options{Scheme: suite.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	funcs.List = func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if _, ok := list.(*stepwisev1alpha1.AnalysisRunList); ok {
			return nil // these tests run no analysis, and the API server has no index by controller
		}
		rsList, ok := list.(*appsv1.ReplicaSetList)
		if !ok {
			return c.List(ctx, list, opts...)
		}
		rsList.Items = nil
		if lo := (&client.ListOptions{}).ApplyOptions(opts); strings.HasSuffix(lo.FieldSelector.String(), "=orphan") || strings.Contains(lo.FieldSelector.String(), "=deployment/") {
			return nil
		}
		items, err := own(ctx, c)
		rsList.Items = items
		return err
	}
	return interceptor.NewClient(direct, funcs), direct
}

// handReconciler returns a new Reconciler's reconcile of "web", through cache as the
// manager's would be, and past it through direct.
func (e *env) handReconciler(cache, direct client.WithWatch) (reconcile func() error) {
	r := &rollout.Reconciler{Client: cache, APIReader: direct, Recorder: events.NewFakeRecorder(100), Clock: clock.RealClock{}}
	return func() error {
		_, err := r.Reconcile(e.Ctx, ctrl.Request{NamespacedName: client.ObjectKey{Namespace: e.NS, Name: "web"}})
		return err
	}
}

// A ReplicaSet created but not yet in the cache must not lead to a second one: the name
// derives from the template, the create finds it, and the reconcile waits for the cache.
func TestStaleCacheMakesNoSecondReplicaSet(t *testing.T) {
	e := newEnv(t)
	e.Create(e.rollout(3, one, one, "0s"))
	noneYet := func(context.Context, client.WithWatch) ([]appsv1.ReplicaSet, error) { return nil, nil }
	reconcile := e.handReconciler(handCache(t, noneYet, interceptor.Funcs{}))
	for range 3 {
		e.G.Expect(reconcile()).To(Succeed())
	}
	e.G.Expect(e.ReplicaSets()).To(HaveLen(1))
	e.G.Expect(e.Get("web").Status.CollisionCount).To(BeNil(), "our own ReplicaSet is not a collision")
}

// A scale planned from a stale ReplicaSet spec is refused, and another writer's newer size
// stays; one planned from a ReplicaSet whose status alone moved on (the ReplicaSet
// controller's writes) goes through.
func TestScaleFromAStaleSpecIsRefused(t *testing.T) {
	e := newEnv(t)
	e.Create(e.rollout(2, one, one, "0s"))
	var cached *appsv1.ReplicaSet // the ReplicaSet as the cache holds it; nil: none yet
	asCached := func(context.Context, client.WithWatch) ([]appsv1.ReplicaSet, error) {
		if cached == nil {
			return nil, nil
		}
		return []appsv1.ReplicaSet{*cached.DeepCopy()}, nil
	}
	reconcile := e.handReconciler(handCache(t, asCached, interceptor.Funcs{}))
	e.G.Expect(reconcile()).To(Succeed())
	allRSs := e.ReplicaSets()
	e.G.Expect(allRSs).To(HaveLen(1))
	cached = &allRSs[0]

	other := cached.DeepCopy() // another writer sizes the ReplicaSet after the cache's copy
	e.G.Expect(e.Client.Patch(e.Ctx, other, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":5}}`)))).To(Succeed())
	e.Update("web", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Replicas = ptr.To[int32](3) })
	err := reconcile()
	e.G.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a size planned from generation %d: %v", cached.Generation, err)
	e.G.Expect(err).To(MatchError(ContainSubstring(fmt.Sprintf("its spec changed after generation %d", cached.Generation))))
	live := &appsv1.ReplicaSet{}
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKeyFromObject(cached), live)).To(Succeed())
	e.G.Expect(*live.Spec.Replicas).To(Equal(int32(5)), "the newer size stays")

	// The cache holds the spec as it is now, with a status in which the ReplicaSet controller
	// has created the newer size's pods (no scale-down waits for creates in flight); the live
	// object has moved on by status writes alone.
	cached = other
	e.G.Eventually(func(g Gomega) {
		g.Expect(e.Client.Get(e.Ctx, client.ObjectKeyFromObject(cached), live)).To(Succeed())
		g.Expect(live.ResourceVersion).NotTo(Equal(cached.ResourceVersion))
		g.Expect(live.Status.ObservedGeneration).To(Equal(live.Generation))
		g.Expect(live.Status.Replicas).To(Equal(int32(5)))
	}).Should(Succeed())
	cached.Status = live.Status
	e.G.Expect(reconcile()).To(Succeed())
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKeyFromObject(cached), live)).To(Succeed())
	e.G.Expect(*live.Spec.Replicas).To(Equal(int32(3)))
}

// A reconcile that finds a cached ReplicaSet older than the controller's own last scale of it
// waits for the cache (no plan, no patch); once the cache has it, the next scale goes through.
// A restarted controller, which remembers no scales, plans from the old one and is refused.
func TestNoScaleFromAReplicaSetBehindTheControllersOwnScale(t *testing.T) {
	e := newEnv(t)
	e.Create(e.rollout(2, one, one, "0s"))
	var cached *appsv1.ReplicaSet // the ReplicaSet as the cache holds it; nil: as it is
	asCached := func(ctx context.Context, c client.WithWatch) ([]appsv1.ReplicaSet, error) {
		if cached != nil {
			return []appsv1.ReplicaSet{*cached.DeepCopy()}, nil
		}
		list := &appsv1.ReplicaSetList{}
		err := c.List(ctx, list, client.InNamespace(e.NS))
		return list.Items, err
	}
	scalePatches := 0
	cache, direct := handCache(t, asCached, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if _, ok := obj.(*appsv1.ReplicaSet); ok {
				scalePatches++
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	})
	reconcile := e.handReconciler(cache, direct)
	resize := func(replicas int32) {
		e.Update("web", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Replicas = ptr.To(replicas) })
	}
	size := func() int32 {
		allRSs := e.ReplicaSets()
		e.G.Expect(allRSs).To(HaveLen(1))
		return *allRSs[0].Spec.Replicas
	}
	e.G.Expect(reconcile()).To(Succeed())
	cached = &e.ReplicaSets()[0] // the cache keeps this version from now on

	resize(3)
	e.G.Expect(reconcile()).To(Succeed())
	e.G.Expect([]int32{int32(scalePatches), size()}).To(Equal([]int32{1, 3}))

	resize(4)
	e.G.Expect(reconcile()).To(Succeed(), "the cache is behind the scale to 3: wait")
	e.G.Expect([]int32{int32(scalePatches), size()}).To(Equal([]int32{1, 3}))
	err := e.handReconciler(cache, direct)() // restarted: remembers no scales
	e.G.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a restarted controller's plan from generation %d: %v", cached.Generation, err)

	cached = nil // the cache catches up
	e.G.Expect(reconcile()).To(Succeed())
	e.G.Expect(size()).To(Equal(int32(4)))
}

// A reconcile from a cached Rollout that the controller's own last status write replaced
// sends no status patch (it could only conflict); one from the newer Rollout does. A restarted
// controller, which remembers no writes, sends it and gets the conflict.
func TestNoStatusPatchFromTheRolloutItsOwnWriteReplaced(t *testing.T) {
	e := newEnv(t)
	e.Create(e.rollout(2, one, one, "0s"))
	var cached *stepwisev1alpha1.Rollout // the Rollout as the cache holds it; nil: as it is
	var statusPatches, conflicts int
	live := func(ctx context.Context, c client.WithWatch) ([]appsv1.ReplicaSet, error) {
		list := &appsv1.ReplicaSetList{}
		err := c.List(ctx, list, client.InNamespace(e.NS))
		return list.Items, err
	}
	cache, direct := handCache(t, live, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if ro, ok := obj.(*stepwisev1alpha1.Rollout); ok && cached != nil {
				cached.DeepCopyInto(ro)
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, subResource string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			statusPatches++
			err := c.SubResource(subResource).Patch(ctx, obj, patch, opts...)
			if apierrors.IsConflict(err) {
				conflicts++
			}
			return err
		},
	})
	reconcile := e.handReconciler(cache, direct)
	replaced := e.Get("web") // the version the first status write replaces
	e.G.Expect(reconcile()).To(Succeed())
	e.G.Expect(statusPatches).To(Equal(1), "the first reconcile records the new ReplicaSet")

	cached = replaced // an event (the ReplicaSet's) before the status write's own
	e.G.Expect(reconcile()).To(Succeed())
	e.G.Expect(statusPatches).To(Equal(1), "no patch from the replaced Rollout")

	restarted := e.handReconciler(cache, direct) // remembers no writes
	e.G.Expect(restarted()).To(Succeed())
	e.G.Expect([]int{statusPatches, conflicts}).To(Equal([]int{2, 1}), "a restarted controller's patch conflicts")

	cached = nil // the cache catches up; the pods' progress is recorded again
	e.G.Eventually(func(g Gomega) {
		g.Expect(reconcile()).To(Succeed())
		g.Expect(e.Get("web").Status.AvailableReplicas).To(Equal(int32(2)))
	}).Should(Succeed())
	e.G.Expect(conflicts).To(Equal(1))
}

// Twenty random operations in a row (image change, scale, pause, resume, undo, restart), each
// taken once the controller has observed the previous one; then it converges, every bound held
// throughout (the loosest bounds over the sizes the run used).
func TestIterativeRandomOperations(t *testing.T) {
	const seed = 7
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("seed %d", seed)
	e := newEnv(t)
	startController(t)
	ro := e.rollout(4, one, one, "100ms")
	e.Create(ro)
	e.WaitComplete("web")
	// Sizes stay within 2..8 replicas with maxSurge 1, maxUnavailable 1.
	resizing := bounds(e.rolloutOfSize(8)).Loosest(bounds(e.rolloutOfSize(2)))
	e.Obs.SetBounds(resizing)

	paused, version := false, 0
	for i := range 20 {
		var op string
		e.Update("web", func(ro *stepwisev1alpha1.Rollout) {
			switch n := rng.IntN(6); {
			case n == 0:
				version++
				op = fmt.Sprintf("image app:r%d", version)
				ro.Spec.Template.Spec.Containers[0].Image = fmt.Sprintf("app:r%d", version)
			case n == 1:
				size := 2 + rng.Int32N(7)
				op = fmt.Sprintf("scale %d", size)
				ro.Spec.Replicas = ptr.To(size)
			case n == 2 && !paused:
				op, paused = "pause", true
				ro.Spec.Paused = true
			case n == 3 && paused:
				op, paused = "resume", false
				ro.Spec.Paused = false
			case n == 4 && !paused:
				op = "undo"
				if ro.Annotations == nil {
					ro.Annotations = map[string]string{}
				}
				ro.Annotations[stepwisev1alpha1.RollbackRequestAnnotation] = "0"
			default:
				op = "restart"
				ro.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] = fmt.Sprint(i)
			}
		})
		t.Logf("op %d: %s", i, op)
		e.G.Eventually(func(g Gomega) {
			ro := e.Get("web")
			g.Expect(ro.Status.ObservedGeneration).To(Equal(ro.Generation))
			g.Expect(ro.Annotations).NotTo(HaveKey(stepwisev1alpha1.RollbackRequestAnnotation))
		}).Should(Succeed())
	}
	if paused {
		e.Update("web", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Paused = false })
	}
	e.WaitComplete("web")
	e.expectConverged()
}

func (e *env) rolloutOfSize(replicas int32) *stepwisev1alpha1.Rollout {
	return e.rollout(replicas, one, one, "0s")
}
