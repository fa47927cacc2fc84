// Package faults checks that rollouts survive faults: the controller killed and restarted, two
// replicas with leader election, the API server restarted, concurrent writers, a stale cache,
// and long chains of random operations. It runs its own local cluster and the real
// controller binary, so killing processes touches no other suite.
package faults

import (
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/intstr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/planner"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/testutil"
	"github.com/stepwise-dev/stepwise/test/observe"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

var suite *testenv.Suite

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{
		Build: []string{"./cmd/manager"},
		// The tests' own client is not the one being throttled: without a budget of its own, its
		// read-modify-write cycles stretch to seconds while other writers edit the same object.
		ClientQPS: 100, ClientBurst: 200,
	}, func(s *testenv.Suite) error {
		suite = s
		return nil
	}))
}

// startController runs the controller binary against the cluster; the test stops it (and
// prints its log if the test failed).
func startController(t *testing.T, args ...string) *testenv.Controller {
	t.Helper()
	c, err := suite.StartController(args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Kill()
		if t.Failed() {
			t.Logf("controller log:\n%s", c.Log.Tail())
		}
	})
	return c
}

// env is one test's environment (see testenv.Env) with this suite's helpers.
type env struct{ *testenv.Env }

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{testenv.New(t, suite, 2*time.Minute)}
}

// rollout is "web" with pods ready after readyDelay, so rollouts take a few waves.
func (e *env) rollout(replicas int32, surge, unavailable intstr.IntOrString, readyDelay string) *stepwisev1alpha1.Rollout {
	ro := testutil.Rollout("web").Namespace(e.NS).Replicas(replicas).Surge(surge.String()).Unavailable(unavailable.String()).Image("app:v0").Obj()
	ro.Spec.Template.Annotations = map[string]string{"pod-ready.stage.kwok.x-k8s.io/delay": readyDelay}
	return ro
}

// bounds are what every observed state must keep for ro's current size.
func bounds(ro *stepwisev1alpha1.Rollout) observe.Bounds {
	p, err := planner.Resolve(ro)
	if err != nil {
		panic(err)
	}
	return observe.Bounds{MaxReplicas: p.Replicas + p.MaxSurge, MinAvailable: p.Replicas - p.MaxUnavailable}
}

// expectConverged checks the end of a faulty run: no bound was ever broken, no two
// ReplicaSets share a template, and only the current one keeps pods.
func (e *env) expectConverged() {
	e.T.Helper()
	e.ExpectNoViolations()
	allRSs := e.ReplicaSets()
	for i := range allRSs {
		for j := i + 1; j < len(allRSs); j++ {
			if revision.EqualIgnoreHash(&allRSs[i].Spec.Template, &allRSs[j].Spec.Template) {
				e.T.Errorf("ReplicaSets %s and %s have the same template", allRSs[i].Name, allRSs[j].Name)
			}
		}
	}
	ro := e.Get("web")
	e.G.Eventually(func() int32 {
		var old int32
		for _, rs := range e.ReplicaSets() {
			if !revision.EqualIgnoreHash(&ro.Spec.Template, &rs.Spec.Template) {
				old += *rs.Spec.Replicas + rs.Status.Replicas
			}
		}
		return old
	}).Should(BeZero())
}
