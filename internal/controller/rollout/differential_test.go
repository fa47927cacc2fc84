package rollout_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/planner"
	"github.com/stepwise-dev/stepwise/test/observe"
)

type differentialCase struct {
	replicas           int32
	surge, unavailable intstr.IntOrString
	recreate           bool
	scaleTo            int32 // 0: no resize mid-rollout
}

func (c differentialCase) String() string {
	name := fmt.Sprintf("%d replicas %s-%s", c.replicas, c.surge.String(), c.unavailable.String())
	if c.recreate {
		name = fmt.Sprintf("%d replicas Recreate", c.replicas)
	}
	if c.scaleTo > 0 {
		name += fmt.Sprintf(" scaled to %d", c.scaleTo)
	}
	return name
}

// differentialCases is the small matrix make test runs; STEPWISE_DIFFERENTIAL=full (make
// test-differential) runs replicas 1, 3, 10, 25 × every bound pair × both strategies, each
// also with a resize mid-rollout.
func differentialCases() []differentialCase {
	if os.Getenv("STEPWISE_DIFFERENTIAL") != "full" {
		return []differentialCase{
			{replicas: 3, surge: intstr.FromInt32(1), unavailable: intstr.FromInt32(1)},
			{replicas: 10, surge: intstr.FromString("25%"), unavailable: intstr.FromString("25%"), scaleTo: 15},
			{replicas: 10, surge: intstr.FromInt32(0), unavailable: intstr.FromInt32(1)},
			{replicas: 3, recreate: true},
		}
	}
	bounds := [][2]intstr.IntOrString{
		{intstr.FromString("25%"), intstr.FromString("25%")},
		{intstr.FromInt32(1), intstr.FromInt32(0)},
		{intstr.FromInt32(0), intstr.FromInt32(1)},
		{intstr.FromString("100%"), intstr.FromInt32(0)},
		{intstr.FromInt32(3), intstr.FromInt32(2)},
	}
	var cases []differentialCase
	for _, replicas := range []int32{1, 3, 10, 25} {
		for _, scaleTo := range []int32{0, replicas*2 + 1} {
			for _, b := range bounds {
				cases = append(cases, differentialCase{replicas: replicas, surge: b[0], unavailable: b[1], scaleTo: scaleTo})
			}
			cases = append(cases, differentialCase{replicas: replicas, recreate: true, scaleTo: scaleTo})
		}
	}
	return cases
}

// TestDifferentialAgainstDeployment runs the same spec as an apps/v1 Deployment and as a
// Rollout side by side, with the same simulated readiness, and compares what each controller
// does: the final states must be equal and the Rollout must keep every bound.
func TestDifferentialAgainstDeployment(t *testing.T) {
	for _, tc := range differentialCases() {
		t.Run(tc.String(), func(t *testing.T) {
			t.Parallel()
			dep, ro := newEnv(t), newEnv(t)
			// The full matrix runs ~50 one-pod waves per case, many cases at once.
			dep.G.SetDefaultEventuallyTimeout(5 * time.Minute)
			ro.G.SetDefaultEventuallyTimeout(5 * time.Minute)
			rollout := ro.newRollout(tc.replicas, tc.surge, tc.unavailable, "app:v1")
			// Pods take a moment to become ready, so rollouts go in visible waves.
			rollout.Spec.Template.Annotations = map[string]string{"pod-ready.stage.kwok.x-k8s.io/delay": "300ms"}
			if tc.recreate {
				rollout.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.RecreateRolloutStrategyType}
			}
			deployment := deploymentOf(rollout, dep.NS)
			dep.Create(deployment)
			ro.Create(rollout)
			ro.WaitComplete("web")
			waitDeploymentComplete(dep)

			params, err := planner.Resolve(rollout)
			ro.G.Expect(err).NotTo(HaveOccurred())
			bounds := observe.Bounds{MaxReplicas: tc.replicas + params.MaxSurge, MinAvailable: tc.replicas - params.MaxUnavailable}
			if tc.recreate { // no availability promise: every old pod goes before a new one starts
				bounds = observe.Bounds{MaxReplicas: tc.replicas, Exclusive: true}
			}
			if tc.scaleTo > 0 {
				resized := rollout.DeepCopy()
				resized.Spec.Replicas = ptr.To(tc.scaleTo)
				after, err := planner.Resolve(resized)
				ro.G.Expect(err).NotTo(HaveOccurred())
				bounds.MaxReplicas = max(bounds.MaxReplicas, tc.scaleTo+after.MaxSurge)
				bounds.MinAvailable = min(bounds.MinAvailable, tc.scaleTo-after.MaxUnavailable)
			}
			ro.Obs.SetBounds(bounds)
			deploymentBounds := bounds
			deploymentBounds.UpToDesired = true // what a Deployment promises
			dep.Obs.SetBounds(deploymentBounds)

			updateDeployment(dep, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "app:v2" })
			ro.SetImage("web", "app:v2")
			if tc.scaleTo > 0 {
				// Mid-rollout, once each has a new ReplicaSet.
				for _, e := range []*testEnv{dep, ro} {
					e.G.Eventually(func() int { return len(e.ReplicaSets()) }).Should(Equal(2))
				}
				updateDeployment(dep, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(tc.scaleTo) })
				ro.Update("web", func(r *stepwisev1alpha1.Rollout) { r.Spec.Replicas = ptr.To(tc.scaleTo) })
			}
			ro.WaitComplete("web")
			waitDeploymentComplete(dep)

			t.Logf("Deployment wrote: %s", strings.Join(dep.Obs.Sizes(), " | "))
			t.Logf("Rollout wrote:    %s", strings.Join(ro.Obs.Sizes(), " | "))
			ro.G.Expect(finalSizes(ro)).To(Equal(finalSizes(dep)), "final states")
			if violations := dep.Obs.Violations(); len(violations) > 0 {
				t.Logf("the Deployment broke a bound (%d times; see shared/notes on counting pods): %s", len(violations), violations[0])
			}
			ro.ExpectNoViolations()
		})
	}
}

func deploymentOf(ro *stepwisev1alpha1.Rollout, ns string) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: ro.Name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ro.Spec.Replicas,
			Selector:                ro.Spec.Selector.DeepCopy(),
			Template:                *ro.Spec.Template.DeepCopy(),
			MinReadySeconds:         ro.Spec.MinReadySeconds,
			RevisionHistoryLimit:    ro.Spec.RevisionHistoryLimit,
			ProgressDeadlineSeconds: ro.Spec.ProgressDeadlineSeconds,
			Strategy:                appsv1.DeploymentStrategy{Type: appsv1.DeploymentStrategyType(ro.Spec.Strategy.Type)},
		},
	}
	if ru := ro.Spec.Strategy.RollingUpdate; ru != nil {
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ru.MaxSurge, MaxUnavailable: ru.MaxUnavailable}
	}
	return d
}

// updateDeployment changes the Deployment "web", retrying on conflicts.
func updateDeployment(e *testEnv, mutate func(*appsv1.Deployment)) {
	e.T.Helper()
	e.G.Eventually(func(g Gomega) {
		d := getDeployment(g, e)
		mutate(d)
		g.Expect(e.Client.Update(e.Ctx, d)).To(Succeed())
	}).Should(Succeed())
}

func getDeployment(g Gomega, e *testEnv) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	g.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: "web"}, d)).To(Succeed())
	return d
}

func waitDeploymentComplete(e *testEnv) {
	e.T.Helper()
	e.G.Eventually(func(g Gomega) {
		d := getDeployment(g, e)
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.UpdatedReplicas).To(Equal(*d.Spec.Replicas))
		g.Expect(d.Status.Replicas).To(Equal(*d.Spec.Replicas))
		g.Expect(d.Status.AvailableReplicas).To(Equal(*d.Spec.Replicas))
	}).Should(Succeed())
}

// finalSizes is "image=desired/pods" per ReplicaSet once the old pods are gone.
func finalSizes(e *testEnv) []string {
	e.T.Helper()
	var out []string
	e.G.Eventually(func() int32 {
		var leftover int32
		for _, rs := range e.Obs.Current().ReplicaSets {
			if rs.Desired == 0 {
				leftover += rs.Pods
			}
		}
		return leftover
	}).Should(BeZero())
	for _, rs := range e.Obs.Current().ReplicaSets {
		out = append(out, fmt.Sprintf("%s=%d/%d", rs.Image, rs.Desired, rs.Pods-rs.Terminating))
	}
	return out
}
