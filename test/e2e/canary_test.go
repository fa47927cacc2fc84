package e2e

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// canary is the hellok8s manifest at tag with one canary step: 1 pod, then a pause until
// promoted.
func canary(t *testing.T, tag string) string {
	t.Helper()
	m := hellok8s(t, tag, "release "+tag)
	return strings.Replace(m, "      maxUnavailable: 1\n", "      maxUnavailable: 1\n      steps:\n      - replicas: 1\n        pause: {}\n", 1)
}

// The canary story through kubectl and the plugin, as CI would drive it: wait for the pause,
// promote; a bad canary is aborted and the stable version serves; retry starts over.
func TestCanaryThroughThePlugin(t *testing.T) {
	g, ns := gomegaFor(t), newNamespace(t)
	mustKubectl(t, canary(t, "v1"), "apply", "-n", ns, "-f", "-")
	mustKubectl(t, "", "wait", "--for=condition=Complete", "rollout/hellok8s", "-n", ns, "--timeout=60s")

	mustKubectl(t, canary(t, "v2"), "apply", "-n", ns, "-f", "-")
	mustKubectl(t, "", "wait", "--for=condition=Paused", "rollout/hellok8s", "-n", ns, "--timeout=60s")
	g.Eventually(func() map[string]int { return podImages(t, ns) }).Should(Equal(map[string]int{"guangzhengli/hellok8s:v1": 2, "guangzhengli/hellok8s:v2": 1}))
	tree := mustKubectl(t, "", "stepwise", "get", "hellok8s", "-n", ns)
	g.Expect(tree).To(ContainSubstring("Steps: ▶ 1: 1 pause"))
	g.Expect(tree).To(ContainSubstring("Paused (CanaryPauseStep): Paused at step 1 of 1 (1 of 3 pods on the new revision), waiting for promotion"))
	g.Expect(mustKubectl(t, "", "stepwise", "promote", "hellok8s", "-n", ns)).To(Equal("rollout.stepwise.dev/hellok8s promoted\n"))
	mustKubectl(t, "", "wait", "--for=condition=Complete", "rollout/hellok8s", "-n", ns, "--timeout=60s")
	g.Eventually(func() map[string]int { return podImages(t, ns) }).Should(Equal(map[string]int{"guangzhengli/hellok8s:v2": 3}))
	_, err := kubectl("", "stepwise", "promote", "hellok8s", "-n", ns)
	g.Expect(err).To(MatchError(ContainSubstring("past its last canary step")))

	// A canary whose pods never become ready: abort it; the stable version serves.
	bad := strings.Replace(canary(t, "v3"), "        app: hellok8s\n    spec:", "        app: hellok8s\n        stepwise.dev/never-ready: \"true\"\n    spec:", 1)
	mustKubectl(t, bad, "apply", "-n", ns, "-f", "-")
	g.Eventually(func() int { return podImages(t, ns)["guangzhengli/hellok8s:v3"] }).Should(Equal(1))
	g.Expect(mustKubectl(t, "", "stepwise", "abort", "hellok8s", "-n", ns)).To(Equal("rollout.stepwise.dev/hellok8s aborted\n"))
	mustKubectl(t, "", "wait", "--for=condition=Paused", "rollout/hellok8s", "-n", ns, "--timeout=60s")
	g.Eventually(func() map[string]int { return podImages(t, ns) }).Should(Equal(map[string]int{"guangzhengli/hellok8s:v2": 3}))
	_, err = kubectl("", "stepwise", "status", "hellok8s", "-n", ns, "--timeout=10s")
	g.Expect(err).To(MatchError(ContainSubstring(`rollout "hellok8s" was aborted`)))
	_, err = kubectl("", "stepwise", "promote", "hellok8s", "-n", ns)
	g.Expect(err).To(MatchError(ContainSubstring("run 'kubectl stepwise retry' first")))
	_, err = kubectl("", "stepwise", "abort", "hellok8s", "-n", ns)
	g.Expect(err).To(MatchError(ContainSubstring("already aborted")))

	g.Expect(mustKubectl(t, "", "stepwise", "retry", "hellok8s", "-n", ns)).To(Equal("rollout.stepwise.dev/hellok8s retried\n"))
	g.Eventually(func() int { return podImages(t, ns)["guangzhengli/hellok8s:v3"] }).Should(Equal(1))
	_, err = kubectl("", "stepwise", "retry", "hellok8s", "-n", ns)
	g.Expect(err).To(MatchError(ContainSubstring("is not aborted")))
}
