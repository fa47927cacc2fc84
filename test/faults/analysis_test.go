package faults

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

// The controller is killed (SIGKILL) while an analysis step runs a Job, a web check and a
// Prometheus query, and restarted: the run resumes as it was (one run, one Job), no measurement is repeated inside
// its interval, and the result still decides the rollout.
func TestControllerKilledMidAnalysis(t *testing.T) {
	e := newEnv(t)
	c := startController(t)
	check := testenv.StartJSONServer(t, `{"ok": true}`)
	exporter := testenv.StartExporter()
	t.Cleanup(exporter.Stop)
	exporter.SetTraffic("v1", 100, 0)
	prom, err := testenv.StartPrometheus(e.Ctx, t.TempDir(), exporter.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)
	e.Create(&stepwisev1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "checks", Namespace: e.NS},
		Spec: stepwisev1alpha1.AnalysisTemplateSpec{Metrics: []stepwisev1alpha1.Metric{
			{Name: "smoke", Provider: stepwisev1alpha1.MetricProvider{Job: &stepwisev1alpha1.JobMetric{Spec: batchv1.JobSpec{
				BackoffLimit: ptr.To[int32](0),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"stepwise.dev/exit-code": "0", "stepwise.dev/exit-delay": "4s"}},
					Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "smoke", Image: "smoke:v1"}}},
				},
			}}}},
			{Name: "health", Count: ptr.To[int32](4), Interval: ptr.To[stepwisev1alpha1.Duration]("2s"), SuccessCondition: "result == true",
				Provider: stepwisev1alpha1.MetricProvider{Web: &stepwisev1alpha1.WebMetric{URL: check.URL, JSONPath: "$.ok"}}},
			{Name: "error-rate", Count: ptr.To[int32](3), Interval: ptr.To[stepwisev1alpha1.Duration]("2s"), SuccessCondition: "result.all(x, x < 0.05)",
				ConsecutiveErrorLimit: ptr.To[int32](10), // until Prometheus has scraped twice
				Provider: stepwisev1alpha1.MetricProvider{Prometheus: &stepwisev1alpha1.PrometheusMetric{Address: prom.URL,
					Query: `sum(rate(requests_total{version="v1",code=~"5.."}[5s])) / sum(rate(requests_total{version="v1"}[5s]))`}}},
		}},
	})
	ro := e.rollout(4, intstr.FromInt32(1), intstr.FromInt32(0), "0s")
	ro.Spec.Strategy.RollingUpdate.Steps = []stepwisev1alpha1.CanaryStep{
		{Replicas: ptr.To(intstr.FromInt32(1))},
		{Analysis: &stepwisev1alpha1.RolloutAnalysis{Templates: []stepwisev1alpha1.AnalysisTemplateRef{{TemplateName: "checks"}}}},
	}
	e.Settle(ro, bounds(ro))

	e.SetImage("web", "app:v1")
	run := &stepwisev1alpha1.AnalysisRun{}
	e.G.Eventually(func(g Gomega) {
		g.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: "web-2-step-2"}, run)).To(Succeed())
		g.Expect(run.Status.MetricResults).To(ContainElement(HaveField("Measurements", ContainElement(HaveField("JobName", Not(BeEmpty()))))))
		g.Expect(run.Status.MetricResults).To(ContainElement(And(HaveField("Name", "health"), HaveField("Count", BeNumerically(">=", 1)))))
	}).Should(Succeed())
	c.Kill()
	startController(t)

	e.WaitComplete("web")
	runs := &stepwisev1alpha1.AnalysisRunList{}
	e.G.Expect(e.Client.List(e.Ctx, runs, client.InNamespace(e.NS))).To(Succeed())
	e.G.Expect(runs.Items).To(HaveLen(1), "one run")
	jobs := &batchv1.JobList{}
	e.G.Expect(e.Client.List(e.Ctx, jobs, client.InNamespace(e.NS))).To(Succeed())
	e.G.Expect(jobs.Items).To(HaveLen(1), "one Job")
	done := runs.Items[0].Status
	e.G.Expect(done.Phase).To(Equal(stepwisev1alpha1.AnalysisPhaseSuccessful))
	for _, m := range done.MetricResults {
		if m.Name == "error-rate" {
			e.G.Expect(m.Successful).To(BeEquivalentTo(3), "the Prometheus metric judged three values: %+v", m)
		}
		if m.Name != "health" {
			continue
		}
		e.G.Expect(m.Count).To(BeEquivalentTo(4))
		for i := 1; i < len(m.Measurements); i++ {
			gap := m.Measurements[i].StartedAt.Sub(m.Measurements[i-1].FinishedAt.Time)
			e.G.Expect(gap).To(BeNumerically(">=", 2*time.Second), "measurement %d came %s after the one before", i+1, gap)
		}
		// A request answered while the controller died is never recorded, and taken again.
		e.G.Expect(check.Requests()).To(BeNumerically("<=", m.Count+1))
	}
	e.expectConverged()
}
