package e2e

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// stepwise runs kubectl stepwise with args in the test's namespace.
func (e *env) stepwise(args ...string) (string, error) {
	return suite.Kubectl("", append(append([]string{"stepwise"}, args...), "-n", e.NS)...)
}

// mustStepwise is stepwise for steps that must succeed.
func (e *env) mustStepwise(args ...string) string {
	e.T.Helper()
	out, err := e.stepwise(args...)
	if err != nil {
		e.T.Fatal(err)
	}
	return out
}

func TestUndoStoryThroughThePlugin(t *testing.T) {
	e := newEnv(t)
	e.apply(hellok8s(t, "v1", "first release"))
	e.G.Expect(e.mustStepwise("status", "hellok8s", "--timeout=60s")).To(ContainSubstring(`rollout "hellok8s" successfully rolled out`))
	e.apply(hellok8s(t, "v2", "second release"))
	e.mustStepwise("status", "hellok8s", "--timeout=60s")

	history := e.mustStepwise("history", "hellok8s")
	e.G.Expect(history).To(MatchRegexp(`(?m)^1\s+first release\s+guangzhengli/hellok8s:v1\s`))
	e.G.Expect(history).To(MatchRegexp(`(?m)^2\s+second release\s+guangzhengli/hellok8s:v2\s`))
	e.G.Expect(e.mustStepwise("history", "hellok8s", "--revision=1")).To(ContainSubstring("image: guangzhengli/hellok8s:v1"))

	e.G.Expect(e.mustStepwise("undo", "hellok8s")).To(Equal("rollout.stepwise.dev/hellok8s rolled back\n"))
	e.mustStepwise("status", "hellok8s", "--timeout=60s")
	e.G.Eventually(e.podImages).Should(Equal(map[string]int{"guangzhengli/hellok8s:v1": 3}))
	e.G.Expect(e.Get("hellok8s").Annotations).To(HaveKeyWithValue(stepwisev1alpha1.ChangeCauseAnnotation, "first release"))

	e.mustStepwise("undo", "hellok8s", "--to-revision=2")
	e.mustStepwise("status", "hellok8s", "--timeout=60s")
	e.G.Eventually(e.podImages).Should(Equal(map[string]int{"guangzhengli/hellok8s:v2": 3}))
	// Each restored revision became the newest: 1, 2 → 3, 4.
	history = e.mustStepwise("history", "hellok8s")
	e.G.Expect(history).To(MatchRegexp(`(?m)^3\s+first release\s+guangzhengli/hellok8s:v1\s`))
	e.G.Expect(history).To(MatchRegexp(`(?m)^4\s+second release\s+guangzhengli/hellok8s:v2\s`))
	e.G.Expect(history).NotTo(MatchRegexp(`(?m)^[12]\s`))

	tree := e.mustStepwise("get", "hellok8s")
	e.G.Expect(tree).To(ContainSubstring("Rollout hellok8s  ready 3/3  revision 4"))
	e.G.Expect(strings.Count(tree, "Running  Ready")).To(Equal(3))
	e.G.Expect(e.mustStepwise("history", "hellok8s", "-o", "json")).To(ContainSubstring(`"changeCause": "second release"`))
}

// kubectl stepwise status fails with the reason a rollout did not finish.
func TestStatusExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name, manifest, timeout string
		want                    []string // substrings of the error
	}{
		{
			name:     "deadline exceeded",
			manifest: neverReady(withProgressDeadline(hellok8s(t, "v1", "bad"))),
			timeout:  "60s",
			want:     []string{`error: rollout "hellok8s" exceeded its progress deadline`, "exit status 1"},
		},
		{
			name:     "timeout",
			manifest: strings.Replace(hellok8s(t, "v1", "slow"), "      labels:\n        app: hellok8s\n    spec:", "      labels:\n        app: hellok8s\n      annotations:\n        pod-ready.stage.kwok.x-k8s.io/delay: 1h\n    spec:", 1),
			timeout:  "2s",
			want:     []string{"timed out waiting for the condition"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.apply(tc.manifest)
			_, err := e.stepwise("status", "hellok8s", "--timeout="+tc.timeout)
			for _, want := range tc.want {
				e.G.Expect(err).To(MatchError(ContainSubstring(want)))
			}
		})
	}
}

func TestUndoThroughTheAnnotation(t *testing.T) {
	e := newEnv(t)
	e.release("v1", "first")
	e.release("v2", "second")

	e.mustKubectl("", "annotate", "rollout/hellok8s", "-n", e.NS, stepwisev1alpha1.RollbackRequestAnnotation+"=1")
	e.G.Eventually(func(g Gomega) {
		ro := e.Get("hellok8s")
		g.Expect(ro.Annotations).NotTo(HaveKey(stepwisev1alpha1.RollbackRequestAnnotation))
		g.Expect(ro.Spec.Template.Spec.Containers[0].Image).To(Equal("guangzhengli/hellok8s:v1"))
		cond := meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionRollback)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonRolledBack))
	}).Should(Succeed())
	e.waitFor("Complete")
	e.G.Eventually(e.podImages).Should(Equal(map[string]int{"guangzhengli/hellok8s:v1": 3}))
	events := e.mustKubectl("", "get", "events", "-n", e.NS, "--field-selector", "reason=RolledBack", "-o", "jsonpath={.items[*].message}")
	e.G.Expect(events).To(ContainSubstring("Rolled back to revision 1"))

	// A missing revision: a condition says why, the spec stays, the request is cleared.
	before := e.Get("hellok8s")
	e.mustKubectl("", "annotate", "rollout/hellok8s", "-n", e.NS, stepwisev1alpha1.RollbackRequestAnnotation+"=42")
	e.G.Eventually(func(g Gomega) {
		ro := e.Get("hellok8s")
		g.Expect(ro.Annotations).NotTo(HaveKey(stepwisev1alpha1.RollbackRequestAnnotation))
		cond := meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionRollback)
		g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonRevisionNotFound))
		g.Expect(cond.Message).To(ContainSubstring("revision 42"))
	}).Should(Succeed())
	e.G.Expect(e.Get("hellok8s").Spec).To(Equal(before.Spec))
}

// kubectl wait on the Complete condition never returns on a stale True: the condition carries
// the generation it was computed for.
func TestKubectlWaitContract(t *testing.T) {
	e := newEnv(t)
	e.release("v1", "first")
	e.release("v2", "second")
	ro := e.Get("hellok8s")
	e.G.Expect(ro.Status.ObservedGeneration).To(Equal(ro.Generation))
	e.G.Expect(ro.Status.UpdatedReplicas).To(Equal(int32(3)))
	e.G.Expect(ro.Status.AvailableReplicas).To(Equal(int32(3)))
	e.G.Expect(ro.Status.Replicas).To(Equal(int32(3)))

	// The CI flow: a bad release fails its wait, the pipeline rolls back, the old version serves.
	e.apply(withProgressDeadline(neverReady(hellok8s(t, "v3", "bad"))))
	_, err := suite.Kubectl("", "wait", "--for=condition=Complete", "rollout/hellok8s", "-n", e.NS, "--timeout=8s")
	e.G.Expect(err).To(HaveOccurred())
	e.mustKubectl("", "wait", "--for=condition=Progressing=False", "rollout/hellok8s", "-n", e.NS, "--timeout=30s")
	e.mustStepwise("undo", "hellok8s")
	e.waitFor("Complete")
	e.G.Eventually(e.podImages).Should(Equal(map[string]int{"guangzhengli/hellok8s:v2": 3}))
}

func TestBadInputGivesAClearErrorAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.release("v1", "first")
	before := e.Get("hellok8s")
	unchanged := func() {
		t.Helper()
		after := e.Get("hellok8s")
		e.G.Expect(after.Spec).To(Equal(before.Spec))
		e.G.Expect(after.Annotations).To(Equal(before.Annotations))
	}

	for _, tc := range []struct {
		args    []string
		message string
	}{
		{[]string{"undo", "hellok8s", "--to-revision=7"}, "unable to find specified revision in history: revision 7"},
		{[]string{"undo", "nothere"}, `rollouts.stepwise.dev "nothere" not found`},
		{[]string{"status", "nothere"}, `rollouts.stepwise.dev "nothere" not found`},
		{[]string{"history", "hellok8s", "--revision=5"}, "unable to find the specified revision 5"},
		{[]string{"set", "image", "hellok8s", "guangzhengli/hellok8s:v9"}, `invalid image argument "guangzhengli/hellok8s:v9": expected CONTAINER=IMAGE`},
		{[]string{"set", "image", "hellok8s", "nope=guangzhengli/hellok8s:v9"}, `unable to find container named "nope"`},
		{[]string{"history", "hellok8s", "-o", "xml"}, `unable to match a printer for output format "xml"`},
	} {
		out, err := e.stepwise(tc.args...)
		e.G.Expect(err).To(HaveOccurred(), strings.Join(tc.args, " "))
		e.G.Expect(err.Error()).To(And(ContainSubstring("exit status 1: error: "), ContainSubstring(tc.message)), strings.Join(tc.args, " "))
		e.G.Expect(out).To(BeEmpty(), "errors go to stderr")
		unchanged()
	}

	e.G.Expect(e.mustStepwise("pause", "hellok8s")).To(Equal("rollout.stepwise.dev/hellok8s paused\n"))
	before = e.Get("hellok8s")
	_, err := e.stepwise("undo", "hellok8s")
	e.G.Expect(err).To(MatchError(ContainSubstring("you cannot roll back a paused Rollout")))
	_, err = e.stepwise("restart", "hellok8s")
	e.G.Expect(err).To(MatchError(ContainSubstring("can't restart paused rollout")))
	_, err = e.stepwise("pause", "hellok8s")
	e.G.Expect(err).To(MatchError(ContainSubstring("already paused")))
	unchanged()
	e.mustStepwise("resume", "hellok8s")

	// Restart makes a new revision; set image records a change cause.
	e.mustStepwise("restart", "hellok8s")
	e.G.Expect(e.Get("hellok8s").Spec.Template.Annotations).To(HaveKey("kubectl.kubernetes.io/restartedAt"))
	e.mustStepwise("set", "image", "hellok8s", "hellok8s-container=guangzhengli/hellok8s:v2")
	e.mustStepwise("status", "hellok8s", "--timeout=60s")
	e.G.Expect(e.mustStepwise("history", "hellok8s")).To(MatchRegexp(`(?m)^3\s+kubectl stepwise set image hellok8s hellok8s-container=guangzhengli/hellok8s:v2`))
}
