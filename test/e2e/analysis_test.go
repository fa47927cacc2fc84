package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

// analysed is hellok8s with 10 replicas at tag, labelled version=tag, its rollout strategy
// given as YAML lines (indented under strategy.rollingUpdate), and extra pod annotations.
func analysed(tag, rollingUpdate string, podAnnotations ...string) string {
	annotations := ""
	if len(podAnnotations) > 0 {
		annotations = "      annotations:\n"
		for _, a := range podAnnotations {
			annotations += "        " + a + "\n"
		}
	}
	return fmt.Sprintf(`apiVersion: stepwise.dev/v1alpha1
kind: Rollout
metadata:
  name: hellok8s
spec:
  replicas: 10
  strategy:
    rollingUpdate:
%s
  selector:
    matchLabels:
      app: hellok8s
  template:
    metadata:
      labels:
        app: hellok8s
        version: %s
%s    spec:
      containers:
      - name: hellok8s-container
        image: guangzhengli/hellok8s:%s
`, rollingUpdate, tag, annotations, tag)
}

// analysisStep is a canary at 20%, then the analysis of template with one argument, then
// everyone.
func analysisStep(template, arg, value string) string {
	return fmt.Sprintf(`      steps:
      - replicas: 20%%
      - analysis:
          templates: [{templateName: %s}]
          args: [{name: %s, value: %q}]
      - replicas: 100%%`, template, arg, value)
}

// run reads an AnalysisRun of the test's namespace.
func (e *env) run(g Gomega, name string) *stepwisev1alpha1.AnalysisRun {
	run := &stepwisev1alpha1.AnalysisRun{}
	g.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: name}, run)).To(Succeed())
	return run
}

// runPhase is the phase of an AnalysisRun, "" while it does not exist.
func (e *env) runPhase(name string) func() stepwisev1alpha1.AnalysisPhase {
	return func() stepwisev1alpha1.AnalysisPhase {
		run := &stepwisev1alpha1.AnalysisRun{}
		if err := e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: name}, run); err != nil {
			return ""
		}
		return run.Status.Phase
	}
}

// pausedReason is the reason of the hellok8s Rollout's Paused condition, "" when not paused.
func (e *env) pausedReason() string {
	for _, c := range e.Get("hellok8s").Status.Conditions {
		if c.Type == stepwisev1alpha1.ConditionPaused && c.Status == "True" {
			return c.Reason
		}
	}
	return ""
}

// eventReasons are the reasons of the events about the hellok8s Rollout.
func (e *env) eventReasons() []string {
	list := &eventsv1.EventList{}
	e.G.Expect(e.Client.List(e.Ctx, list, client.InNamespace(e.NS))).To(Succeed())
	var reasons []string
	for _, ev := range list.Items {
		if ev.Regarding.Kind == "Rollout" {
			reasons = append(reasons, ev.Reason)
		}
	}
	return reasons
}

// A canary judged by a real Prometheus: the error rate of the new version, from counters its
// pods would export, decides. A good v2 completes with no person involved; a v3 that fails
// half its requests is aborted, every pod back on v2, and kubectl stepwise status says why.
func TestPrometheusAnalysisDecidesACanary(t *testing.T) {
	e := newEnv(t)
	exporter := testenv.StartExporter()
	t.Cleanup(exporter.Stop)
	prom, err := testenv.StartPrometheus(context.Background(), t.TempDir(), exporter.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)
	exporter.SetTraffic("v1", 100, 0)
	exporter.SetTraffic("v2", 100, 0)
	exporter.SetTraffic("v3", 100, 0.5)

	e.apply(fmt.Sprintf(`apiVersion: stepwise.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
spec:
  args: [{name: version}]
  metrics:
  - name: error-rate
    interval: 2s
    count: 3
    successCondition: result.all(x, x < 0.05)
    provider:
      prometheus:
        address: %s
        query: sum(rate(requests_total{version="{{args.version}}",code=~"5.."}[5s])) / sum(rate(requests_total{version="{{args.version}}"}[5s]))
`, prom.URL))
	e.apply(analysed("v1", analysisStep("error-rate", "version", "v1")))
	e.waitFor("Complete")

	e.apply(analysed("v2", analysisStep("error-rate", "version", "v2")))
	e.G.Eventually(e.runPhase("hellok8s-2-step-2")).Should(Equal(stepwisev1alpha1.AnalysisPhaseRunning))
	e.G.Expect(e.podImages()).To(HaveKeyWithValue("guangzhengli/hellok8s:v2", 2), "the canary waits at its step while analysed")
	e.waitFor("Complete")
	run := e.run(e.G, "hellok8s-2-step-2")
	e.G.Expect(run.Status.Phase).To(Equal(stepwisev1alpha1.AnalysisPhaseSuccessful))
	e.G.Expect(run.Status.MetricResults[0].Successful).To(BeEquivalentTo(3))
	e.G.Expect(e.mustKubectl("", "get", "analysisruns", "-n", e.NS)).To(MatchRegexp(`hellok8s-2-step-2\s+Successful\s+1/0`))

	e.apply(analysed("v3", analysisStep("error-rate", "version", "v3")))
	e.G.Eventually(e.runPhase("hellok8s-3-step-2")).Should(Equal(stepwisev1alpha1.AnalysisPhaseFailed))
	e.G.Eventually(e.pausedReason).Should(Equal(stepwisev1alpha1.ReasonRolloutAborted))
	e.G.Eventually(e.podImages).Should(Equal(map[string]int{"guangzhengli/hellok8s:v2": 10}))
	_, err = e.stepwise("status", "hellok8s", "--timeout=5s")
	e.G.Expect(err).To(MatchError(And(ContainSubstring("was aborted"), ContainSubstring(`metric "error-rate" Failed: measured [0.5]`))))
	e.G.Expect(e.eventReasons()).To(ContainElements(stepwisev1alpha1.EventAnalysisRunning, stepwisev1alpha1.EventAnalysisFailed))
	e.ExpectNoViolations()
}

// A Job as the analysis: a smoke test whose pod exits 0 lets the canary go on, one that
// exits 1 aborts it.
func TestJobAnalysisStep(t *testing.T) {
	e := newEnv(t)
	e.apply(`apiVersion: stepwise.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: smoke-test
spec:
  args: [{name: exit-code}]
  metrics:
  - name: smoke-test
    provider:
      job:
        spec:
          backoffLimit: 0
          template:
            metadata:
              annotations:
                stepwise.dev/exit-code: "{{args.exit-code}}"
            spec:
              restartPolicy: Never
              containers:
              - name: smoke
                image: curlimages/curl
`)
	e.apply(analysed("v1", analysisStep("smoke-test", "exit-code", "0")))
	e.waitFor("Complete")
	e.apply(analysed("v2", analysisStep("smoke-test", "exit-code", "0")))
	e.waitFor("Complete")
	run := e.run(e.G, "hellok8s-2-step-2")
	e.G.Expect(run.Status.Phase).To(Equal(stepwisev1alpha1.AnalysisPhaseSuccessful))
	e.G.Expect(run.Status.MetricResults[0].Measurements[0].Message).To(ContainSubstring("completed"))

	e.apply(analysed("v3", analysisStep("smoke-test", "exit-code", "1")))
	e.G.Eventually(e.runPhase("hellok8s-3-step-2")).Should(Equal(stepwisev1alpha1.AnalysisPhaseFailed))
	e.G.Eventually(e.pausedReason).Should(Equal(stepwisev1alpha1.ReasonRolloutAborted))
	e.G.Eventually(e.podImages).Should(Equal(map[string]int{"guangzhengli/hellok8s:v2": 10}))
	e.ExpectNoViolations()
}

// Background analysis beside a plain rolling update: a web check that stays good lets v2
// complete (the run is stopped then); one that turns bad midway through v3 aborts it.
func TestBackgroundWebAnalysis(t *testing.T) {
	e := newEnv(t)
	check := testenv.StartJSONServer(t, `{"ok": true}`)
	e.apply(fmt.Sprintf(`apiVersion: stepwise.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: health
spec:
  metrics:
  - name: health
    interval: 1s
    successCondition: result == true
    provider:
      web:
        url: %s/health
        jsonPath: $.ok
`, check.URL))
	background := `      maxSurge: 1
      maxUnavailable: 0
      analysis:
        templates: [{templateName: health}]`
	slow := `pod-ready.stage.kwok.x-k8s.io/delay: 1s`
	e.apply(analysed("v1", background, slow))
	e.waitFor("Complete")
	e.apply(analysed("v2", background, slow))
	e.G.Eventually(e.runPhase("hellok8s-2-background")).Should(Equal(stepwisev1alpha1.AnalysisPhaseRunning))
	e.waitFor("Complete")
	e.G.Eventually(e.runPhase("hellok8s-2-background")).Should(Equal(stepwisev1alpha1.AnalysisPhaseSuccessful))
	e.G.Expect(e.run(e.G, "hellok8s-2-background").Status.Message).To(Equal("terminated: the rollout completed"))

	e.apply(analysed("v3", background, slow))
	e.G.Eventually(func() int { return e.podImages()["guangzhengli/hellok8s:v3"] }).Should(BeNumerically(">=", 3))
	check.SetBody(`{"ok": false}`)
	e.G.Eventually(e.pausedReason).Should(Equal(stepwisev1alpha1.ReasonRolloutAborted))
	e.G.Eventually(e.podImages).Should(Equal(map[string]int{"guangzhengli/hellok8s:v2": 10}))
	e.G.Expect(e.Get("hellok8s").Status.Canary.AbortReason).To(ContainSubstring(`metric "health" Failed: measured false`))
	e.ExpectNoViolations()
}

// What a person resolves: an inconclusive result pauses the rollout until promoted; a missing
// template or a condition that does not compile pauses it at its step, nothing scaled past,
// with the reason in the condition.
func TestInconclusiveAndInvalidAnalysisPause(t *testing.T) {
	e := newEnv(t)
	check := testenv.StartJSONServer(t, `{"rate": 0.07}`)
	e.apply(fmt.Sprintf(`apiVersion: stepwise.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
spec:
  metrics:
  - name: error-rate
    successCondition: result.rate < 0.05
    failureCondition: result.rate > 0.10
    provider:
      web:
        url: %s/rate
---
apiVersion: stepwise.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: broken
spec:
  metrics:
  - name: broken
    successCondition: result <
    provider:
      web:
        url: %s/rate
`, check.URL, check.URL))
	e.apply(analysed("v1", analysisStep("error-rate", "unused", "")))
	e.waitFor("Complete")

	e.apply(analysed("v2", analysisStep("error-rate", "unused", "")))
	e.G.Eventually(e.pausedReason).Should(Equal(stepwisev1alpha1.ReasonInconclusiveAnalysis))
	e.G.Expect(e.runPhase("hellok8s-2-step-2")()).To(Equal(stepwisev1alpha1.AnalysisPhaseInconclusive))
	e.G.Expect(e.podImages()).To(HaveKeyWithValue("guangzhengli/hellok8s:v2", 2))
	e.G.Expect(e.mustStepwise("promote", "hellok8s")).To(Equal("rollout.stepwise.dev/hellok8s promoted\n"))
	e.waitFor("Complete")

	for _, tc := range []struct{ tag, template string }{{"v3", "missing"}, {"v4", "broken"}} { // in order: revisions 3, 4
		tag, template := tc.tag, tc.template
		e.apply(analysed(tag, analysisStep(template, "unused", "")))
		e.G.Eventually(e.pausedReason).Should(Equal(stepwisev1alpha1.ReasonInvalidAnalysis))
		want := `AnalysisTemplate "missing" not found`
		if template == "broken" {
			want = `metric "broken": successCondition "result <"`
		}
		run := fmt.Sprintf("hellok8s-%s-step-2", strings.TrimPrefix(tag, "v"))
		e.G.Expect(e.run(e.G, run).Status.Message).To(ContainSubstring(want))
		e.G.Expect(e.Get("hellok8s").Status.Conditions).To(ContainElement(And(
			HaveField("Type", stepwisev1alpha1.ConditionPaused), HaveField("Message", ContainSubstring(want)))))
		e.G.Consistently(func() int { return e.podImages()["guangzhengli/hellok8s:"+tag] }).Should(Equal(2), "nothing scaled past the step")
		e.G.Expect(e.mustStepwise("promote", "hellok8s")).To(Equal("rollout.stepwise.dev/hellok8s promoted\n"))
		e.waitFor("Complete")
	}
	e.ExpectNoViolations()
}

// abortOn watches the new revision's pods: a crash-looping v2 and a v3 whose image cannot be
// pulled are aborted within seconds, long before their 600 s progress deadline, and v1 serves.
func TestAbortOnUnhealthyPods(t *testing.T) {
	e := newEnv(t)
	withAbortOn := func(manifest string) string {
		return strings.Replace(manifest, "spec:\n  replicas: 10\n", `spec:
  replicas: 10
  progressDeadlineSeconds: 600
  abortOn:
    restarts: 3
    waitingReasons: [CrashLoopBackOff, ImagePullBackOff, ErrImagePull, CreateContainerConfigError]
`, 1)
	}
	rolling := "      maxSurge: 1\n      maxUnavailable: 0"
	e.apply(withAbortOn(analysed("v1", rolling)))
	e.waitFor("Complete")

	for _, tc := range []struct{ tag, marker, waiting string }{
		{"v2", `stepwise.dev/crash-loop: "true"`, "CrashLoopBackOff"},
		{"v3", `stepwise.dev/image-pull-error: "true"`, "(ErrImagePull|ImagePullBackOff)"},
	} {
		e.apply(withAbortOn(analysed(tc.tag, rolling, tc.marker)))
		// The abort of this revision, not the previous one's still in the status.
		e.G.Eventually(func(g Gomega) {
			ro := e.Get("hellok8s")
			g.Expect(ro.Status.ObservedGeneration).To(Equal(ro.Generation))
			g.Expect(e.pausedReason()).To(Equal(stepwisev1alpha1.ReasonRolloutAborted))
			g.Expect(ro.Status.Canary).NotTo(BeNil())
			g.Expect(ro.Status.Canary.AbortReason).To(MatchRegexp(`pod hellok8s-\w+-\w+ of the new revision: container hellok8s-container is waiting: ` + tc.waiting))
		}, "20s").Should(Succeed(), tc.tag)
		e.G.Eventually(e.podImages).Should(Equal(map[string]int{"guangzhengli/hellok8s:v1": 10}))
		e.G.Expect(e.eventReasons()).To(ContainElement(stepwisev1alpha1.EventPodUnhealthy))
	}
	e.ExpectNoViolations()
}
