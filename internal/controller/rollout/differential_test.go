package rollout_test

import (
	"fmt"
	"os"
	"slices"
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
	// policy is the Rollout's podReplacementPolicy ("": the default).
	policy stepwisev1alpha1.PodReplacementPolicy
	// terminationDelay is how long deleted pods stay terminating ("": terminationDelay).
	terminationDelay string
}

func (c differentialCase) String() string {
	name := fmt.Sprintf("%d replicas %s-%s", c.replicas, c.surge.String(), c.unavailable.String())
	if c.recreate {
		name = fmt.Sprintf("%d replicas Recreate", c.replicas)
	}
	if c.scaleTo > 0 {
		name += fmt.Sprintf(" scaled to %d", c.scaleTo)
	}
	if c.policy != "" {
		name += " " + string(c.policy)
	}
	if c.terminationDelay != "" {
		name += " terminating " + c.terminationDelay
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
			{replicas: 3, surge: intstr.FromInt32(1), unavailable: intstr.FromInt32(1), terminationDelay: "2s"},
			{replicas: 3, surge: intstr.FromInt32(1), unavailable: intstr.FromInt32(1), terminationDelay: "2s", policy: stepwisev1alpha1.PodReplacementPolicyTerminationComplete},
			{replicas: 10, surge: intstr.FromString("25%"), unavailable: intstr.FromString("25%"), scaleTo: 15, terminationDelay: "2s"},
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
			metav1.SetMetaDataAnnotation(&rollout.Spec.Template.ObjectMeta, "pod-ready.stage.kwok.x-k8s.io/delay", "300ms")
			setTerminationDelay(rollout, tc.terminationDelay)
			rollout.Spec.PodReplacementPolicy = tc.policy
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
			bounds := observe.Bounds{MaxReplicas: tc.replicas + params.MaxSurge, MinAvailable: tc.replicas - params.MaxUnavailable,
				Terminating: tc.policy == stepwisev1alpha1.PodReplacementPolicyTerminationComplete}
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
			deploymentBounds.UpToDesired, deploymentBounds.Terminating = true, false // what a Deployment promises
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

			depSizes, roSizes := dep.Obs.Sizes(), ro.Obs.Sizes()
			t.Logf("Deployment wrote: %s", strings.Join(depSizes, " | "))
			t.Logf("Rollout wrote:    %s", strings.Join(roSizes, " | "))
			t.Log(compareSizes(depSizes, roSizes))
			ro.G.Expect(finalSizes(ro)).To(Equal(finalSizes(dep)), "final states")
			if violations := dep.Obs.Violations(); len(violations) > 0 {
				t.Logf("the Deployment broke a bound (%d times; see shared/notes on counting pods): %s", len(violations), violations[0])
			}
			ro.ExpectNoViolations()
		})
	}
}

// compareSizes says how the Rollout's sequence of ReplicaSet sizes compares with the
// Deployment's: the same states in the same order differ only in when each was written (the
// Rollout waits for replaced pods to begin terminating); otherwise readiness reached the two
// controllers at other moments, or podReplacementPolicy held a wave the Deployment made.
func compareSizes(deployment, rollout []string) string {
	if slices.Equal(deployment, rollout) {
		return fmt.Sprintf("the same %d states of ReplicaSet sizes in the same order: the two differ only in when they wrote them", len(rollout))
	}
	first := 0
	for first < min(len(deployment), len(rollout)) && deployment[first] == rollout[first] {
		first++
	}
	return fmt.Sprintf("the sequences part at state %d of %d (Deployment) and %d (Rollout): different waves, not only different times", first+1, len(deployment), len(rollout))
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
	slices.Sort(out) // by image: the two controllers' ReplicaSet names differ
	return out
}
