package rollout_test

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/status"
	"github.com/stepwise-dev/stepwise/test/observe"
)

// changeCanary writes the canary state change computes, as kubectl stepwise promote, abort
// and retry do (the same pure functions), retrying on conflicts with the controller.
func (e *testEnv) changeCanary(name string, change func(*stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error)) {
	e.T.Helper()
	e.G.Eventually(func() error {
		ro := e.Get(name)
		next, err := change(ro)
		if err != nil {
			return err
		}
		updated := ro.DeepCopy()
		updated.Status.Canary = next
		return e.Client.Status().Patch(e.Ctx, updated, client.MergeFromWithOptions(ro, client.MergeFromWithOptimisticLock{}))
	}).Should(Succeed())
}

// expectSizes checks the desired replicas, pods and available pods of the ReplicaSet of each
// image; with g from Eventually it waits for them.
func (e *testEnv) expectSizes(g Gomega, sizes map[string]int32) {
	for image, n := range sizes {
		rs := e.replicaSetOf(g, image)
		g.Expect(*rs.Spec.Replicas).To(Equal(n), "replicas of %s", image)
		g.Expect(rs.Status.Replicas).To(Equal(n), "pods of %s", image)
		g.Expect(rs.Status.AvailableReplicas).To(Equal(n), "available pods of %s", image)
	}
}

// A canary of 10 replicas: 1 pod, a pause until promoted; 50%, a pause until promoted; then
// everyone. Never more than 13 pods, never fewer than 8 available, and nothing moves while
// paused.
func TestCanarySteps(t *testing.T) {
	t.Parallel() // own namespace; mostly waiting on pods
	e := newEnv(t)
	ro := e.newRollout(10, quarter, quarter, "app:v1")
	ro.Spec.Strategy.RollingUpdate.Steps = []stepwisev1alpha1.CanaryStep{
		{Replicas: ptr.To(intstr.FromInt32(1)), Pause: &stepwisev1alpha1.CanaryPause{}},
		{Replicas: ptr.To(intstr.FromString("50%")), Pause: &stepwisev1alpha1.CanaryPause{}},
		{Replicas: ptr.To(intstr.FromString("100%"))},
	}
	e.Settle(ro, observe.Bounds{MaxReplicas: 13, MinAvailable: 8})

	e.SetImage("web", "app:v2")
	ro = e.WaitPaused("web", stepwisev1alpha1.ReasonCanaryPauseStep)
	e.G.Expect(meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionPaused).Message).To(Equal("Paused at step 1 of 3 (1 of 10 pods on the new revision), waiting for promotion"))
	e.G.Expect(ro.Status.Canary.CurrentStep).To(BeZero())
	e.G.Eventually(func(g Gomega) { e.expectSizes(g, map[string]int32{"app:v1": 9, "app:v2": 1}) }).Should(Succeed())
	e.G.Consistently(func(g Gomega) { e.expectSizes(g, map[string]int32{"app:v1": 9, "app:v2": 1}) }).Should(Succeed())
	_, done, err := status.View(e.Get("web"))
	e.G.Expect(done).To(BeFalse())
	e.G.Expect(err).NotTo(HaveOccurred())

	e.changeCanary("web", func(ro *stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error) {
		return status.Promote(ro, false)
	})
	e.G.Eventually(func(g Gomega) {
		ro := e.WaitPaused("web", stepwisev1alpha1.ReasonCanaryPauseStep)
		g.Expect(ro.Status.Canary.CurrentStep).To(Equal(int32(1)))
		e.expectSizes(g, map[string]int32{"app:v1": 5, "app:v2": 5})
	}).Should(Succeed())

	e.changeCanary("web", func(ro *stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error) {
		return status.Promote(ro, false)
	})
	ro = e.WaitComplete("web")
	e.G.Expect(meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionPaused)).To(BeNil())
	e.G.Expect(ro.Status.Canary.CurrentStep).To(Equal(int32(3)))
	e.ExpectNoViolations()
}

// A canary whose pods never become ready takes no traffic; abort scales it down and hands
// every pod back to the stable revision, within the bounds; retry starts over.
func TestAbortNeverReadyCanary(t *testing.T) {
	t.Parallel() // own namespace; mostly waiting on pods
	e := newEnv(t)
	ro := e.newRollout(10, quarter, quarter, "app:v1")
	ro.Spec.Strategy.RollingUpdate.Steps = []stepwisev1alpha1.CanaryStep{{Replicas: ptr.To(intstr.FromInt32(3)), Pause: &stepwisev1alpha1.CanaryPause{}}}
	e.Settle(ro, observe.Bounds{MaxReplicas: 13, MinAvailable: 8})

	e.setNeverReadyImage("web", "app:bad")
	e.G.Eventually(func(g Gomega) int32 { return e.replicaSetOf(g, "app:bad").Status.Replicas }).Should(Equal(int32(3)))
	e.changeCanary("web", status.Abort)
	ro = e.WaitPaused("web", stepwisev1alpha1.ReasonRolloutAborted)
	e.G.Eventually(func(g Gomega) { e.expectSizes(g, map[string]int32{"app:v1": 10, "app:bad": 0}) }).Should(Succeed())
	_, _, err := status.View(e.Get("web"))
	e.G.Expect(err).To(MatchError(ContainSubstring(`rollout "web" was aborted`)))
	e.G.Expect(meta.FindStatusCondition(e.Get("web").Status.Conditions, stepwisev1alpha1.ConditionComplete).Reason).To(Equal(stepwisev1alpha1.ReasonRolloutAborted))
	e.G.Consistently(func(g Gomega) { e.expectSizes(g, map[string]int32{"app:v1": 10, "app:bad": 0}) }).Should(Succeed())

	e.changeCanary("web", status.Retry)
	e.G.Eventually(func(g Gomega) int32 { return *e.replicaSetOf(g, "app:bad").Spec.Replicas }).Should(Equal(int32(3)))
	e.G.Eventually(func() *metav1.Condition {
		return meta.FindStatusCondition(e.Get("web").Status.Conditions, stepwisev1alpha1.ConditionPaused)
	}).Should(BeNil())
	e.ExpectNoViolations()
}

// A partition keeps that many pods on the old revision; lowering it to 0 finishes.
func TestPartition(t *testing.T) {
	t.Parallel() // own namespace; mostly waiting on pods
	e := newEnv(t)
	ro := e.newRollout(10, quarter, quarter, "app:v1")
	ro.Spec.Strategy.RollingUpdate.Partition = ptr.To(intstr.FromInt32(3))
	e.Settle(ro, observe.Bounds{MaxReplicas: 13, MinAvailable: 8})

	e.SetImage("web", "app:v2")
	ro = e.WaitPaused("web", stepwisev1alpha1.ReasonPartitionReached)
	e.G.Eventually(func(g Gomega) { e.expectSizes(g, map[string]int32{"app:v1": 3, "app:v2": 7}) }).Should(Succeed())
	e.G.Expect(meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionComplete).Status).To(Equal(metav1.ConditionFalse))

	e.Update("web", func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Strategy.RollingUpdate.Partition = nil })
	e.WaitComplete("web")
	e.ExpectNoViolations()
}

// stallPastTheDeadline rolls out 4 pods of app:v1 with a 3 s progress deadline and action,
// then app:bad, whose pods never become ready. Never more than 5 pods, never fewer than 3
// available.
func (e *testEnv) stallPastTheDeadline(action stepwisev1alpha1.ProgressDeadlineAction) {
	e.T.Helper()
	ro := e.newRollout(4, one, one, "app:v1")
	ro.Spec.ProgressDeadlineSeconds = ptr.To[int32](3)
	ro.Spec.ProgressDeadlineAction = action
	e.Settle(ro, observe.Bounds{MaxReplicas: 5, MinAvailable: 3})
	e.setNeverReadyImage("web", "app:bad")
}

// progressDeadlineAction Rollback: a version that never becomes ready is aborted at the
// deadline, every pod goes back to the stable revision, the failure stays (the template is
// not tried again) until the template changes.
func TestRollbackAfterTheProgressDeadline(t *testing.T) {
	t.Parallel() // own namespace; mostly waiting on pods
	e := newEnv(t)
	e.stallPastTheDeadline(stepwisev1alpha1.ProgressDeadlineActionRollback)
	ro := e.WaitPaused("web", stepwisev1alpha1.ReasonRolloutAborted)
	e.G.Expect(meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionPaused).Message).To(ContainSubstring("the progress deadline passed (progressDeadlineAction: Rollback)"))
	e.G.Eventually(func(g Gomega) { e.expectSizes(g, map[string]int32{"app:v1": 4, "app:bad": 0}) }).Should(Succeed())
	e.G.Expect(e.events()).To(ContainElement("Aborted: the progress deadline passed (progressDeadlineAction: Rollback)"))
	e.G.Consistently(func(g Gomega) {
		ro := e.Get("web")
		g.Expect(ro.Spec.Template.Spec.Containers[0].Image).To(Equal("app:bad"), "the spec is left as the user wrote it")
		g.Expect(meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionComplete).Reason).To(Equal(stepwisev1alpha1.ReasonRolloutAborted))
		e.expectSizes(g, map[string]int32{"app:v1": 4, "app:bad": 0})
	}).Should(Succeed(), "the failed template is not tried again")

	e.setHealthyImage("web", "app:v3")
	e.WaitComplete("web")
	e.ExpectNoViolations()
}

// progressDeadlineAction Pause: the controller sets spec.paused at the deadline; the stalled
// rollout keeps its old pods serving.
func TestPauseAfterTheProgressDeadline(t *testing.T) {
	t.Parallel() // own namespace; mostly waiting on pods
	e := newEnv(t)
	e.stallPastTheDeadline(stepwisev1alpha1.ProgressDeadlineActionPause)
	e.G.Eventually(func() bool { return e.Get("web").Spec.Paused }).Should(BeTrue())
	e.WaitPaused("web", stepwisev1alpha1.ReasonRolloutPaused)
	e.G.Expect(e.events()).To(ContainElement("Paused: no progress for 3s (progressDeadlineAction: Pause)"))
	e.G.Expect(e.replicaSetFor("app:v1").Status.AvailableReplicas).To(BeNumerically(">=", 3))
	e.ExpectNoViolations()
}

// Blue-green on the cluster: v2 comes up at full size behind the preview Service while the
// active Service keeps selecting v1; promotion switches the active Service; an undo inside
// the scale-down window switches it straight back to v1, whose pods never went away.
func TestBlueGreen(t *testing.T) {
	t.Parallel() // own namespace; mostly waiting on pods
	e := newEnv(t)
	for _, name := range []string{"web-active", "web-preview"} {
		e.Create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.NS},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}})
	}
	ro := e.newRollout(3, one, one, "app:v1")
	ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.BlueGreenRolloutStrategyType,
		BlueGreen: &stepwisev1alpha1.BlueGreenStrategy{ActiveService: "web-active", PreviewService: "web-preview", ScaleDownDelaySeconds: ptr.To[int32](5)}}
	e.Settle(ro, observe.Bounds{MaxReplicas: 6, MinAvailable: 3})
	hash := func(g Gomega, image string) string {
		return e.replicaSetOf(g, image).Labels[stepwisev1alpha1.PodTemplateHashLabel]
	}
	expectSelectors := func(g Gomega, active, preview string) {
		for name, image := range map[string]string{"web-active": active, "web-preview": preview} {
			svc := &corev1.Service{}
			g.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: name}, svc)).To(Succeed())
			g.Expect(svc.Spec.Selector).To(Equal(map[string]string{"app": "web", stepwisev1alpha1.PodTemplateHashLabel: hash(g, image)}), "selector of %s", name)
		}
	}
	e.G.Eventually(func(g Gomega) { expectSelectors(g, "app:v1", "app:v1") }).Should(Succeed())

	e.SetImage("web", "app:v2")
	e.WaitPaused("web", stepwisev1alpha1.ReasonAwaitingPromotion)
	e.G.Eventually(func(g Gomega) { e.expectSizes(g, map[string]int32{"app:v1": 3, "app:v2": 3}) }).Should(Succeed())
	e.G.Consistently(func(g Gomega) { expectSelectors(g, "app:v1", "app:v2") }).Should(Succeed(), "the active Service waits for promotion")

	e.changeCanary("web", func(ro *stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error) {
		return status.Promote(ro, false)
	})
	e.G.Eventually(func(g Gomega) { expectSelectors(g, "app:v2", "app:v2") }).Should(Succeed())
	e.G.Expect(*e.replicaSetFor("app:v1").Spec.Replicas).To(Equal(int32(3)), "v1 stays up for the scale-down delay")

	e.SetImage("web", "app:v1") // undo inside the window
	e.G.Eventually(func(g Gomega) { expectSelectors(g, "app:v1", "app:v1") }).Should(Succeed())
	ro = e.WaitComplete("web")
	e.G.Expect(ro.Status.CurrentRevision).To(Equal(int64(3)))
	e.G.Expect(*e.replicaSetFor("app:v2").Spec.Replicas).To(BeZero())
	for _, st := range e.Obs.States() {
		for _, rs := range st.ReplicaSets {
			e.G.Expect(rs.Image != "app:v1" || rs.Desired == 3).To(BeTrue(), "v1 was never scaled down: %s", st)
		}
	}
	e.G.Expect(e.events()).To(ContainElement("Switched service web-active to pod-template-hash " + hash(e.G, "app:v2")))
	e.ExpectNoViolations()
}

// Gates hold a rollout until someone sets a condition on each new pod, here the test as a load
// balancer controller (a readiness gate) or a smoke test (a progress gate) would: the rollout
// counts a pod, and removes an old one, only once its gate is True.
func TestGatesHoldTheRollout(t *testing.T) {
	for _, tc := range []struct {
		name, gate string
		addGate    func(ro *stepwisev1alpha1.Rollout, gate string)
		// ready says whether a pod waiting for its gate is Ready and takes traffic: not behind
		// a readiness gate; behind a progress gate it is, and the rollout does not count it.
		ready bool
	}{
		{name: "readiness gate", gate: "example.com/load-balancer-registered", addGate: func(ro *stepwisev1alpha1.Rollout, gate string) {
			ro.Spec.Template.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(gate)}}
		}},
		{name: "progress gate", gate: "example.com/smoke-tested", ready: true, addGate: func(ro *stepwisev1alpha1.Rollout, gate string) {
			ro.Spec.ProgressGates = []string{gate}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // own namespace; mostly waiting on pods
			readyOf := func(gatedPods int32) int32 {
				if tc.ready {
					return gatedPods
				}
				return 0
			}
			e := newEnv(t)
			ro := e.newRollout(3, one, zero, "app:v1")
			tc.addGate(ro, tc.gate)
			e.Create(ro)
			e.G.Eventually(func(g Gomega) {
				st := e.Get("web").Status
				g.Expect(st.Replicas).To(Equal(int32(3)))
				g.Expect(st.ReadyReplicas).To(Equal(readyOf(3)))
			}).Should(Succeed())
			e.G.Consistently(func() int32 { return e.Get("web").Status.AvailableReplicas }).Should(BeZero(), "nobody set the gates yet")
			e.SetPodCondition(tc.gate)
			e.WaitComplete("web")
			e.Obs.SetBounds(observe.Bounds{MaxReplicas: 4, MinAvailable: 3})

			e.SetImage("web", "app:v2")
			expectNewPodGated := func(g Gomega) {
				v2 := e.replicaSetOf(g, "app:v2")
				g.Expect(*v2.Spec.Replicas).To(Equal(int32(1)))
				g.Expect(v2.Status.Replicas).To(Equal(int32(1)))
				g.Expect(v2.Status.ReadyReplicas).To(Equal(readyOf(1)), "whether the new pod takes traffic")
			}
			e.G.Eventually(expectNewPodGated).Should(Succeed())
			e.G.Consistently(func(g Gomega) {
				e.expectSizes(g, map[string]int32{"app:v1": 3})
				expectNewPodGated(g)
			}).Should(Succeed(), "no old pod goes until the new one's gate is set")
			e.SignOffUntilComplete("web", tc.gate)
			e.ExpectNoViolations()
		})
	}
}
