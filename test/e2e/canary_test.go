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
	e := newEnv(t)
	e.apply(canary(t, "v1"))
	e.waitFor("Complete")

	e.apply(canary(t, "v2"))
	e.waitFor("Paused")
	e.G.Eventually(e.podImages).Should(Equal(map[string]int{"guangzhengli/hellok8s:v1": 2, "guangzhengli/hellok8s:v2": 1}))
	tree := e.mustStepwise("get", "hellok8s")
	e.G.Expect(tree).To(ContainSubstring("Steps: ▶ 1: 1 pause"))
	e.G.Expect(tree).To(ContainSubstring("Paused (CanaryPauseStep): Paused at step 1 of 1 (1 of 3 pods on the new revision), waiting for promotion"))
	e.G.Expect(e.mustStepwise("promote", "hellok8s")).To(Equal("rollout.stepwise.dev/hellok8s promoted\n"))
	e.waitFor("Complete")
	e.G.Eventually(e.podImages).Should(Equal(map[string]int{"guangzhengli/hellok8s:v2": 3}))
	_, err := e.stepwise("promote", "hellok8s")
	e.G.Expect(err).To(MatchError(ContainSubstring("past its last canary step")))

	// A canary whose pods never become ready: abort it; the stable version serves.
	e.apply(neverReady(canary(t, "v3")))
	e.G.Eventually(func() int { return e.podImages()["guangzhengli/hellok8s:v3"] }).Should(Equal(1))
	e.G.Expect(e.mustStepwise("abort", "hellok8s")).To(Equal("rollout.stepwise.dev/hellok8s aborted\n"))
	e.waitFor("Paused")
	e.G.Eventually(e.podImages).Should(Equal(map[string]int{"guangzhengli/hellok8s:v2": 3}))
	_, err = e.stepwise("status", "hellok8s", "--timeout=10s")
	e.G.Expect(err).To(MatchError(ContainSubstring(`rollout "hellok8s" was aborted`)))
	_, err = e.stepwise("promote", "hellok8s")
	e.G.Expect(err).To(MatchError(ContainSubstring("run 'kubectl stepwise retry' first")))
	_, err = e.stepwise("abort", "hellok8s")
	e.G.Expect(err).To(MatchError(ContainSubstring("already aborted")))

	e.G.Expect(e.mustStepwise("retry", "hellok8s")).To(Equal("rollout.stepwise.dev/hellok8s retried\n"))
	e.G.Eventually(func() int { return e.podImages()["guangzhengli/hellok8s:v3"] }).Should(Equal(1))
	_, err = e.stepwise("retry", "hellok8s")
	e.G.Expect(err).To(MatchError(ContainSubstring("is not aborted")))
}
