package rollout_test

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/status"
	"github.com/stepwise-dev/stepwise/test/observe"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

// runs are the AnalysisRuns of the test's namespace, by name.
func (e *testEnv) runs(g Gomega) map[string]stepwisev1alpha1.AnalysisRun {
	list := &stepwisev1alpha1.AnalysisRunList{}
	g.Expect(e.Client.List(e.Ctx, list, client.InNamespace(e.NS))).To(Succeed())
	out := map[string]stepwisev1alpha1.AnalysisRun{}
	for _, run := range list.Items {
		out[run.Name] = run
	}
	return out
}

// jobs are the names of the Jobs of the test's namespace.
func (e *testEnv) jobs(g Gomega) []string {
	list := &batchv1.JobList{}
	g.Expect(e.Client.List(e.Ctx, list, client.InNamespace(e.NS))).To(Succeed())
	var names []string
	for _, job := range list.Items {
		names = append(names, job.Name)
	}
	return names
}

// An analysis step with a namespaced web check and a cluster-wide Job smoke test, through the
// controller's own ServiceAccount (the suite's least-privilege audit sees every verb analysis
// needs): a failing check fails the run while its Job still runs (the Job is deleted, the
// rollout aborted); a promotion skips a running analysis (terminated, its Job deleted); a Job
// deleted by hand is a measurement error; the runs of a revision that leaves the history are
// deleted with it.
func TestAnalysisThroughTheControllersOwnPermissions(t *testing.T) {
	e := newEnv(t)
	check := testenv.StartJSONServer(t, `{"ok": false}`)
	e.Create(&stepwisev1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "check", Namespace: e.NS},
		Spec: stepwisev1alpha1.AnalysisTemplateSpec{Metrics: []stepwisev1alpha1.Metric{{
			Name: "check", SuccessCondition: "result == true",
			Provider: stepwisev1alpha1.MetricProvider{Web: &stepwisev1alpha1.WebMetric{URL: check.URL, JSONPath: "$.ok"}},
		}}},
	})
	smoke := &stepwisev1alpha1.ClusterAnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: e.NS + "-smoke"},
		Spec: stepwisev1alpha1.AnalysisTemplateSpec{
			Args: []stepwisev1alpha1.Argument{{Name: "delay"}},
			Metrics: []stepwisev1alpha1.Metric{{Name: "smoke", Provider: stepwisev1alpha1.MetricProvider{Job: &stepwisev1alpha1.JobMetric{Spec: batchv1.JobSpec{
				BackoffLimit: ptr.To[int32](0),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"stepwise.dev/exit-code": "0", "stepwise.dev/exit-delay": "{{args.delay}}"}},
					Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "smoke", Image: "smoke"}}},
				},
			}}}}},
		},
	}
	e.Create(smoke)
	t.Cleanup(func() { _ = e.Client.Delete(e.Ctx, smoke) })

	ro := e.newRollout(3, intstr.FromInt32(1), intstr.FromInt32(0), "app:v1")
	ro.Spec.RevisionHistoryLimit = ptr.To[int32](0)
	ro.Spec.Strategy.RollingUpdate.Steps = []stepwisev1alpha1.CanaryStep{
		{Replicas: ptr.To(intstr.FromInt32(1))},
		{Analysis: &stepwisev1alpha1.RolloutAnalysis{
			Templates: []stepwisev1alpha1.AnalysisTemplateRef{{TemplateName: "check"}, {TemplateName: smoke.Name, ClusterScope: true}},
			Args:      []stepwisev1alpha1.Argument{{Name: "delay", Value: ptr.To("10m")}},
		}},
	}
	e.Settle(ro, observe.Bounds{MaxReplicas: 4, MinAvailable: 3})

	// v2: the check fails at once while the smoke test's Job runs.
	e.SetImage("web", "app:v2")
	e.WaitPaused("web", stepwisev1alpha1.ReasonRolloutAborted)
	e.G.Expect(e.Get("web").Status.Canary.AbortReason).To(ContainSubstring(`metric "check" Failed: measured false`))
	e.G.Eventually(e.jobs).Should(BeEmpty(), "the failed run's running Job is deleted")

	// v3: the check passes; the smoke test runs until promoted past.
	check.SetBody(`{"ok": true}`)
	e.SetImage("web", "app:v3")
	e.G.Eventually(e.jobs).Should(HaveLen(1))
	e.changeCanary("web", func(ro *stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error) {
		return status.Promote(ro, false)
	})
	e.WaitComplete("web")
	e.G.Eventually(func(g Gomega) {
		run := e.runs(g)["web-3-step-2"]
		g.Expect(run.Spec.Terminate).To(BeTrue())
		g.Expect(run.Status.Phase).To(Equal(stepwisev1alpha1.AnalysisPhaseSkipped))
		g.Expect(run.Status.Message).To(Equal("skipped: the rollout went past step-2"))
		g.Expect(run.Status.MetricResults).To(ContainElement(And(
			HaveField("Name", "smoke"), HaveField("Phase", stepwisev1alpha1.AnalysisPhaseSkipped))))
	}).Should(Succeed())
	e.G.Eventually(e.jobs).Should(BeEmpty(), "the skipped run's Job is deleted")
	e.G.Eventually(func(g Gomega) []string {
		var names []string
		for name := range e.runs(g) {
			names = append(names, name)
		}
		return names
	}).Should(ConsistOf("web-3-step-2"), "the runs of revisions gone from the history are deleted")

	// v4: a Job deleted by hand is a measurement error, not a pass; the run stays on its feet.
	e.SetImage("web", "app:v4")
	var job string
	e.G.Eventually(func(g Gomega) { g.Expect(e.jobs(g)).To(HaveLen(1)); job = e.jobs(g)[0] }).Should(Succeed())
	e.G.Expect(e.Client.Delete(e.Ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: job, Namespace: e.NS}},
		client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
	e.G.Eventually(func(g Gomega) {
		smoke := e.runs(g)["web-4-step-2"].Status.MetricResults
		g.Expect(smoke).To(ContainElement(And(HaveField("Name", "smoke"), HaveField("Error", BeEquivalentTo(1)))))
	}).Should(Succeed())
	e.ExpectNoViolations()
}

// Blue-green judged by analysis on the cluster: a failing pre-promotion check never switches
// the active Service (the preview revision scales down); a failing post-promotion check
// switches it straight back to v1, whose pods never went away.
func TestBlueGreenAnalysis(t *testing.T) {
	e := newEnv(t)
	pre, post := testenv.StartJSONServer(t, `{"ok": false}`), testenv.StartJSONServer(t, `{"ok": true}`)
	for name, url := range map[string]string{"pre": pre.URL, "post": post.URL} {
		e.Create(&stepwisev1alpha1.AnalysisTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.NS},
			Spec: stepwisev1alpha1.AnalysisTemplateSpec{Metrics: []stepwisev1alpha1.Metric{{
				Name: name, SuccessCondition: "result == true",
				Provider: stepwisev1alpha1.MetricProvider{Web: &stepwisev1alpha1.WebMetric{URL: url, JSONPath: "$.ok"}},
			}}},
		})
	}
	for _, name := range []string{"web-active", "web-preview"} {
		e.Create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.NS},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}})
	}
	ro := e.newRollout(3, intstr.FromInt32(1), intstr.FromInt32(1), "app:v1")
	ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.BlueGreenRolloutStrategyType,
		BlueGreen: &stepwisev1alpha1.BlueGreenStrategy{ActiveService: "web-active", PreviewService: "web-preview",
			AutoPromotionSeconds: ptr.To[int32](0), ScaleDownDelaySeconds: ptr.To[int32](30),
			PrePromotionAnalysis:  &stepwisev1alpha1.RolloutAnalysis{Templates: []stepwisev1alpha1.AnalysisTemplateRef{{TemplateName: "pre"}}},
			PostPromotionAnalysis: &stepwisev1alpha1.RolloutAnalysis{Templates: []stepwisev1alpha1.AnalysisTemplateRef{{TemplateName: "post"}}}}}
	e.Settle(ro, observe.Bounds{MaxReplicas: 6, MinAvailable: 3})
	activeImage := func(g Gomega) string {
		svc := &corev1.Service{}
		g.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: "web-active"}, svc)).To(Succeed())
		for _, rs := range e.ReplicaSets() {
			if rs.Labels[stepwisev1alpha1.PodTemplateHashLabel] == svc.Spec.Selector[stepwisev1alpha1.PodTemplateHashLabel] {
				return rs.Spec.Template.Spec.Containers[0].Image
			}
		}
		return ""
	}
	e.G.Eventually(activeImage).Should(Equal("app:v1"))

	e.SetImage("web", "app:v2")
	e.WaitPaused("web", stepwisev1alpha1.ReasonRolloutAborted)
	e.G.Expect(e.Get("web").Status.Canary.AbortReason).To(ContainSubstring("web-2-pre-promotion failed"))
	e.G.Eventually(func(g Gomega) { e.expectSizes(g, map[string]int32{"app:v1": 3, "app:v2": 0}) }).Should(Succeed())
	e.G.Expect(activeImage(e.G)).To(Equal("app:v1"), "the active Service never switched")

	pre.SetBody(`{"ok": true}`)
	post.SetBody(`{"ok": false}`)
	e.SetImage("web", "app:v3")
	e.G.Eventually(func(g Gomega) {
		g.Expect(e.Get("web").Status.Canary.GetAborted()).To(BeTrue())
		g.Expect(e.Get("web").Status.Canary.AbortReason).To(ContainSubstring("web-3-post-promotion failed"))
	}).Should(Succeed())
	e.G.Eventually(activeImage).Should(Equal("app:v1"), "switched straight back")
	e.G.Eventually(func(g Gomega) { e.expectSizes(g, map[string]int32{"app:v1": 3, "app:v2": 0, "app:v3": 0}) }).Should(Succeed())
	for _, st := range e.Obs.States() {
		for _, rs := range st.ReplicaSets {
			e.G.Expect(rs.Image != "app:v1" || rs.Desired == 3).To(BeTrue(), "v1 was never scaled down: %s", st)
		}
	}
	e.ExpectNoViolations()
}

// Measurements on a 1 s interval cost one status write each, however many runs share the
// controller: every run's status changes exactly once per measurement (the last one carries
// the conclusion), never per reconcile or per timer, and no measurement is taken twice.
func TestAnalysisWritesStatusOncePerMeasurement(t *testing.T) {
	const runs, measurements = 20, 4
	e := newEnv(t)
	check := testenv.StartJSONServer(t, `{"ok": true}`)
	watcher, err := client.NewWithWatch(suite.Cluster.Config, client.Options{Scheme: suite.Scheme})
	e.G.Expect(err).NotTo(HaveOccurred())
	events, err := watcher.Watch(e.Ctx, &stepwisev1alpha1.AnalysisRunList{}, client.InNamespace(e.NS))
	e.G.Expect(err).NotTo(HaveOccurred())
	defer events.Stop()

	for i := range runs {
		e.Create(&stepwisev1alpha1.AnalysisRun{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("run-%d", i), Namespace: e.NS},
			Spec: stepwisev1alpha1.AnalysisRunSpec{Metrics: []stepwisev1alpha1.Metric{{
				Name: "check", Interval: ptr.To(stepwisev1alpha1.Duration("1s")), Count: ptr.To(int32(measurements)), SuccessCondition: "result == true",
				Provider: stepwisev1alpha1.MetricProvider{Web: &stepwisev1alpha1.WebMetric{URL: check.URL, JSONPath: "$.ok"}},
			}}},
		})
	}
	writes := map[string]int{}
	done := map[string]bool{}
	deadline := time.After(time.Minute)
	for len(done) < runs {
		select {
		case ev, open := <-events.ResultChan():
			if !open {
				t.Fatalf("the watch ended with %d of %d runs ended; writes so far: %v", len(done), runs, writes)
			}
			run, ok := ev.Object.(*stepwisev1alpha1.AnalysisRun)
			if !ok || ev.Type != watch.Modified {
				continue
			}
			writes[run.Name]++
			if run.Status.Phase.Completed() {
				e.G.Expect(run.Status.Phase).To(Equal(stepwisev1alpha1.AnalysisPhaseSuccessful), run.Name)
				done[run.Name] = true
			}
		case <-deadline:
			t.Fatalf("%d of %d runs ended within a minute; writes so far: %v", len(done), runs, writes)
		}
	}
	for i := range runs {
		e.G.Expect(writes).To(HaveKeyWithValue(fmt.Sprintf("run-%d", i), measurements), "one status write per measurement")
	}
	e.G.Expect(check.Requests()).To(BeEquivalentTo(runs*measurements), "each measurement taken once")
}
