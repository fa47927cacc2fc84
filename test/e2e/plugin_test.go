package e2e

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// hellok8s is the sample manifest at an image tag, with a change cause.
func hellok8s(t *testing.T, tag, cause string) string {
	t.Helper()
	m := strings.Replace(sampleManifest(t), "guangzhengli/hellok8s:v1", "guangzhengli/hellok8s:"+tag, 1)
	return strings.Replace(m, "  name: hellok8s\n", "  name: hellok8s\n  annotations:\n    kubernetes.io/change-cause: "+cause+"\n", 1)
}

func getRollout(t *testing.T, ns string) *stepwisev1alpha1.Rollout {
	t.Helper()
	ro := &stepwisev1alpha1.Rollout{}
	if err := k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "hellok8s"}, ro); err != nil {
		t.Fatal(err)
	}
	return ro
}

// podImages counts the Rollout's running, non-terminating pods by image.
func podImages(t *testing.T, ns string) map[string]int {
	t.Helper()
	pods, err := kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=hellok8s"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out[p.Spec.Containers[0].Image]++
		}
	}
	return out
}

func TestUndoStoryThroughThePlugin(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	mustKubectl(t, hellok8s(t, "v1", "first release"), "apply", "-n", ns, "-f", "-")
	g.Expect(mustKubectl(t, "", "stepwise", "status", "hellok8s", "-n", ns, "--timeout=60s")).To(ContainSubstring(`rollout "hellok8s" successfully rolled out`))
	mustKubectl(t, hellok8s(t, "v2", "second release"), "apply", "-n", ns, "-f", "-")
	mustKubectl(t, "", "stepwise", "status", "hellok8s", "-n", ns, "--timeout=60s")

	history := mustKubectl(t, "", "stepwise", "history", "hellok8s", "-n", ns)
	g.Expect(history).To(MatchRegexp(`(?m)^1\s+first release\s+guangzhengli/hellok8s:v1\s`))
	g.Expect(history).To(MatchRegexp(`(?m)^2\s+second release\s+guangzhengli/hellok8s:v2\s`))
	g.Expect(mustKubectl(t, "", "stepwise", "history", "hellok8s", "-n", ns, "--revision=1")).To(ContainSubstring("image: guangzhengli/hellok8s:v1"))

	g.Expect(mustKubectl(t, "", "stepwise", "undo", "hellok8s", "-n", ns)).To(Equal("rollout.stepwise.dev/hellok8s rolled back\n"))
	mustKubectl(t, "", "stepwise", "status", "hellok8s", "-n", ns, "--timeout=60s")
	g.Eventually(func() map[string]int { return podImages(t, ns) }).Should(Equal(map[string]int{"guangzhengli/hellok8s:v1": 3}))
	g.Expect(getRollout(t, ns).Annotations).To(HaveKeyWithValue(stepwisev1alpha1.ChangeCauseAnnotation, "first release"))

	mustKubectl(t, "", "stepwise", "undo", "hellok8s", "-n", ns, "--to-revision=2")
	mustKubectl(t, "", "stepwise", "status", "hellok8s", "-n", ns, "--timeout=60s")
	g.Eventually(func() map[string]int { return podImages(t, ns) }).Should(Equal(map[string]int{"guangzhengli/hellok8s:v2": 3}))
	// Each restored revision became the newest: 1, 2 → 3, 4.
	history = mustKubectl(t, "", "stepwise", "history", "hellok8s", "-n", ns)
	g.Expect(history).To(MatchRegexp(`(?m)^3\s+first release\s+guangzhengli/hellok8s:v1\s`))
	g.Expect(history).To(MatchRegexp(`(?m)^4\s+second release\s+guangzhengli/hellok8s:v2\s`))
	g.Expect(history).NotTo(MatchRegexp(`(?m)^[12]\s`))

	tree := mustKubectl(t, "", "stepwise", "get", "hellok8s", "-n", ns)
	g.Expect(tree).To(ContainSubstring("Rollout hellok8s  ready 3/3  revision 4"))
	g.Expect(strings.Count(tree, "Running  Ready")).To(Equal(3))
	g.Expect(mustKubectl(t, "", "stepwise", "history", "hellok8s", "-n", ns, "-o", "json")).To(ContainSubstring(`"changeCause": "second release"`))
}

func TestStatusExitCodes(t *testing.T) {
	g := gomegaFor(t)
	t.Run("deadline exceeded", func(t *testing.T) {
		ns := newNamespace(t)
		bad := strings.Replace(hellok8s(t, "v1", "bad"), "spec:\n", "spec:\n  progressDeadlineSeconds: 3\n", 1)
		bad = strings.Replace(bad, "        app: hellok8s\n    spec:", "        app: hellok8s\n        stepwise.dev/never-ready: \"true\"\n    spec:", 1)
		mustKubectl(t, bad, "apply", "-n", ns, "-f", "-")
		_, err := kubectl("", "stepwise", "status", "hellok8s", "-n", ns, "--timeout=60s")
		g.Expect(err).To(MatchError(ContainSubstring(`error: rollout "hellok8s" exceeded its progress deadline`)))
		g.Expect(err).To(MatchError(ContainSubstring("exit status 1")))
	})
	t.Run("timeout", func(t *testing.T) {
		ns := newNamespace(t)
		slow := strings.Replace(hellok8s(t, "v1", "slow"), "      labels:\n        app: hellok8s\n    spec:", "      labels:\n        app: hellok8s\n      annotations:\n        pod-ready.stage.kwok.x-k8s.io/delay: 1h\n    spec:", 1)
		mustKubectl(t, slow, "apply", "-n", ns, "-f", "-")
		_, err := kubectl("", "stepwise", "status", "hellok8s", "-n", ns, "--timeout=2s")
		g.Expect(err).To(MatchError(ContainSubstring("timed out waiting for the condition")))
	})
}

func TestUndoThroughTheAnnotation(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	mustKubectl(t, hellok8s(t, "v1", "first"), "apply", "-n", ns, "-f", "-")
	mustKubectl(t, "", "wait", "--for=condition=Complete", "rollout/hellok8s", "-n", ns, "--timeout=60s")
	mustKubectl(t, hellok8s(t, "v2", "second"), "apply", "-n", ns, "-f", "-")
	mustKubectl(t, "", "wait", "--for=condition=Complete", "rollout/hellok8s", "-n", ns, "--timeout=60s")

	mustKubectl(t, "", "annotate", "rollout/hellok8s", "-n", ns, stepwisev1alpha1.RollbackRequestAnnotation+"=1")
	g.Eventually(func(g Gomega) {
		ro := getRollout(t, ns)
		g.Expect(ro.Annotations).NotTo(HaveKey(stepwisev1alpha1.RollbackRequestAnnotation))
		g.Expect(ro.Spec.Template.Spec.Containers[0].Image).To(Equal("guangzhengli/hellok8s:v1"))
		cond := meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionRollback)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonRolledBack))
	}).Should(Succeed())
	mustKubectl(t, "", "wait", "--for=condition=Complete", "rollout/hellok8s", "-n", ns, "--timeout=60s")
	g.Eventually(func() map[string]int { return podImages(t, ns) }).Should(Equal(map[string]int{"guangzhengli/hellok8s:v1": 3}))
	events := mustKubectl(t, "", "get", "events", "-n", ns, "--field-selector", "reason=RolledBack", "-o", "jsonpath={.items[*].message}")
	g.Expect(events).To(ContainSubstring("Rolled back to revision 1"))

	// A missing revision: a condition says why, the spec stays, the request is cleared.
	before := getRollout(t, ns)
	mustKubectl(t, "", "annotate", "rollout/hellok8s", "-n", ns, stepwisev1alpha1.RollbackRequestAnnotation+"=42")
	g.Eventually(func(g Gomega) {
		ro := getRollout(t, ns)
		g.Expect(ro.Annotations).NotTo(HaveKey(stepwisev1alpha1.RollbackRequestAnnotation))
		cond := meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionRollback)
		g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(cond.Reason).To(Equal(stepwisev1alpha1.ReasonRevisionNotFound))
		g.Expect(cond.Message).To(ContainSubstring("revision 42"))
	}).Should(Succeed())
	g.Expect(getRollout(t, ns).Spec).To(Equal(before.Spec))
}

// kubectl wait on the Complete condition never returns on a stale True: the condition carries
// the generation it was computed for.
func TestKubectlWaitContract(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	mustKubectl(t, hellok8s(t, "v1", "first"), "apply", "-n", ns, "-f", "-")
	mustKubectl(t, "", "wait", "--for=condition=Complete", "rollout/hellok8s", "-n", ns, "--timeout=60s")

	mustKubectl(t, hellok8s(t, "v2", "second"), "apply", "-n", ns, "-f", "-")
	mustKubectl(t, "", "wait", "--for=condition=Complete", "rollout/hellok8s", "-n", ns, "--timeout=60s")
	ro := getRollout(t, ns)
	g.Expect(ro.Status.ObservedGeneration).To(Equal(ro.Generation))
	g.Expect(ro.Status.UpdatedReplicas).To(Equal(int32(3)))
	g.Expect(ro.Status.AvailableReplicas).To(Equal(int32(3)))
	g.Expect(ro.Status.Replicas).To(Equal(int32(3)))

	// The CI flow: a bad release fails its wait, the pipeline rolls back, the old version serves.
	bad := strings.Replace(hellok8s(t, "v3", "bad"), "        app: hellok8s\n    spec:", "        app: hellok8s\n        stepwise.dev/never-ready: \"true\"\n    spec:", 1)
	mustKubectl(t, strings.Replace(bad, "spec:\n", "spec:\n  progressDeadlineSeconds: 3\n", 1), "apply", "-n", ns, "-f", "-")
	_, err := kubectl("", "wait", "--for=condition=Complete", "rollout/hellok8s", "-n", ns, "--timeout=8s")
	g.Expect(err).To(HaveOccurred())
	mustKubectl(t, "", "wait", "--for=condition=Progressing=False", "rollout/hellok8s", "-n", ns, "--timeout=30s")
	mustKubectl(t, "", "stepwise", "undo", "hellok8s", "-n", ns)
	mustKubectl(t, "", "wait", "--for=condition=Complete", "rollout/hellok8s", "-n", ns, "--timeout=60s")
	g.Eventually(func() map[string]int { return podImages(t, ns) }).Should(Equal(map[string]int{"guangzhengli/hellok8s:v2": 3}))
}

func TestBadInputGivesAClearErrorAndChangesNothing(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	mustKubectl(t, hellok8s(t, "v1", "first"), "apply", "-n", ns, "-f", "-")
	mustKubectl(t, "", "wait", "--for=condition=Complete", "rollout/hellok8s", "-n", ns, "--timeout=60s")
	before := getRollout(t, ns)
	unchanged := func() {
		t.Helper()
		after := getRollout(t, ns)
		g.Expect(after.Spec).To(Equal(before.Spec))
		g.Expect(after.Annotations).To(Equal(before.Annotations))
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
		out, err := kubectl("", append([]string{"stepwise", "-n", ns}, tc.args...)...)
		g.Expect(err).To(HaveOccurred(), strings.Join(tc.args, " "))
		g.Expect(err.Error()).To(And(ContainSubstring("exit status 1: error: "), ContainSubstring(tc.message)), strings.Join(tc.args, " "))
		g.Expect(out).To(BeEmpty(), "errors go to stderr")
		unchanged()
	}

	g.Expect(mustKubectl(t, "", "stepwise", "pause", "hellok8s", "-n", ns)).To(Equal("rollout.stepwise.dev/hellok8s paused\n"))
	before = getRollout(t, ns)
	_, err := kubectl("", "stepwise", "undo", "hellok8s", "-n", ns)
	g.Expect(err).To(MatchError(ContainSubstring("you cannot roll back a paused Rollout")))
	_, err = kubectl("", "stepwise", "restart", "hellok8s", "-n", ns)
	g.Expect(err).To(MatchError(ContainSubstring("can't restart paused rollout")))
	_, err = kubectl("", "stepwise", "pause", "hellok8s", "-n", ns)
	g.Expect(err).To(MatchError(ContainSubstring("already paused")))
	unchanged()
	mustKubectl(t, "", "stepwise", "resume", "hellok8s", "-n", ns)

	// Restart makes a new revision; set image records a change cause.
	mustKubectl(t, "", "stepwise", "restart", "hellok8s", "-n", ns)
	g.Expect(getRollout(t, ns).Spec.Template.Annotations).To(HaveKey("kubectl.kubernetes.io/restartedAt"))
	mustKubectl(t, "", "stepwise", "set", "image", "hellok8s", "hellok8s-container=guangzhengli/hellok8s:v2", "-n", ns)
	mustKubectl(t, "", "stepwise", "status", "hellok8s", "-n", ns, "--timeout=60s")
	g.Expect(mustKubectl(t, "", "stepwise", "history", "hellok8s", "-n", ns)).To(MatchRegexp(`(?m)^3\s+kubectl stepwise set image hellok8s hellok8s-container=guangzhengli/hellok8s:v2`))
}
