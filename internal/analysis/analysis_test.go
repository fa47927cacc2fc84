package analysis

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

const (
	successful   = stepwisev1alpha1.AnalysisPhaseSuccessful
	failed       = stepwisev1alpha1.AnalysisPhaseFailed
	inconclusive = stepwisev1alpha1.AnalysisPhaseInconclusive
	errored      = stepwisev1alpha1.AnalysisPhaseError
	running      = stepwisev1alpha1.AnalysisPhaseRunning
)

// decoded is a JSON document as a provider hands it to the conditions.
func decoded(t *testing.T, doc string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name, success, failure string
		result                 any
		want                   stepwisev1alpha1.AnalysisPhase
		wantErr                string
	}{
		{name: "scalar passes", success: "result < 0.05", result: 0.01, want: successful},
		{name: "scalar fails without a failure condition", success: "result < 0.05", result: 0.5, want: failed},
		{name: "an int literal compares with a double", success: "result < 1", result: 0.5, want: successful},
		{name: "vector passes", success: "result.all(x, x < 0.05)", result: []any{0.01, 0.02}, want: successful},
		{name: "vector fails", success: "result.all(x, x < 0.05)", result: []any{0.01, 0.2}, want: failed},
		{name: "web JSON", success: `result.status == "ok"`, result: map[string]any{"status": "ok"}, want: successful},
		{name: "neither condition holds", success: "result < 0.05", failure: "result > 0.10", result: 0.07, want: inconclusive},
		{name: "failure wins", success: "result < 0.5", failure: "result > 0.1", result: 0.2, want: failed},
		{name: "failure wins over a success condition that cannot be evaluated", success: "result.rate < 0.05", failure: `result.status == "down"`,
			result: map[string]any{"status": "down"}, want: failed},
		{name: "only a failure condition, not met", failure: "result > 0.1", result: 0.05, want: successful},
		{name: "no conditions", result: 12.0, want: successful},
		{name: "missing JSON field", success: "result.status == 'ok'", result: map[string]any{}, wantErr: "successCondition: no such key: status"},
		{name: "not a bool", success: "result + 1.0", result: 1.0, wantErr: "not a bool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compile(&stepwisev1alpha1.Metric{Name: "m", SuccessCondition: tc.success, FailureCondition: tc.failure})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Judge(tc.result)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Judge = %v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Judge = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestCompileNamesTheMetricAndCondition(t *testing.T) {
	_, err := Compile(&stepwisev1alpha1.Metric{Name: "error-rate", SuccessCondition: "result <"})
	if err == nil || !strings.Contains(err.Error(), `metric "error-rate": successCondition "result <"`) {
		t.Fatalf("Compile error = %v", err)
	}
}

func TestLookup(t *testing.T) {
	doc := decoded(t, `{"data":{"ok":true,"items":[{"rate":0.5}]},"metadata":{"labels":{"app.kubernetes.io/name":"web"}}}`)
	for path, want := range map[string]any{
		"$.data.ok":          true,
		"data.items[0].rate": 0.5,
		"metadata.labels['app.kubernetes.io/name']": "web",
	} {
		got, err := Lookup(doc, path)
		if err != nil || got != want {
			t.Errorf("Lookup(%q) = %v, %v; want %v", path, got, err, want)
		}
	}
	if whole, err := Lookup(doc, ""); err != nil || whole == nil {
		t.Errorf("Lookup(\"\") = %v, %v; want the whole document", whole, err)
	}
	for path, wantErr := range map[string]string{
		"data.missing":       `no field "missing"`,
		"data.items[3]":      "not an index of a list of 1",
		"data.ok.deeper":     "not an object or a list",
		"data..ok":           "empty field name",
		"metadata.labels['x": "unterminated",
	} {
		if _, err := Lookup(doc, path); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("Lookup(%q) error = %v; want %q", path, err, wantErr)
		}
	}
}

var start = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func measurement(phase stepwisev1alpha1.AnalysisPhase) stepwisev1alpha1.Measurement {
	return stepwisev1alpha1.Measurement{Phase: phase, Value: "0.1", Message: "m"}
}

func TestMetricPhaseFollowsTheLimits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		metric stepwisev1alpha1.Metric
		record []stepwisev1alpha1.AnalysisPhase
		want   stepwisev1alpha1.AnalysisPhase
	}{
		{name: "one measurement by default", record: []stepwisev1alpha1.AnalysisPhase{successful}, want: successful},
		{name: "count 3 after 2", metric: stepwisev1alpha1.Metric{Count: ptr.To[int32](3)}, record: []stepwisev1alpha1.AnalysisPhase{successful, successful}, want: running},
		{name: "failureLimit 0: the first failure fails", metric: stepwisev1alpha1.Metric{Count: ptr.To[int32](3)}, record: []stepwisev1alpha1.AnalysisPhase{successful, failed}, want: failed},
		{name: "failureLimit 1 tolerates one", metric: stepwisev1alpha1.Metric{Count: ptr.To[int32](3), FailureLimit: ptr.To[int32](1)}, record: []stepwisev1alpha1.AnalysisPhase{failed, successful, successful}, want: successful},
		{name: "inconclusive", metric: stepwisev1alpha1.Metric{Count: ptr.To[int32](3)}, record: []stepwisev1alpha1.AnalysisPhase{inconclusive}, want: inconclusive},
		{name: "errors up to the limit keep running", metric: stepwisev1alpha1.Metric{Count: ptr.To[int32](9)}, record: []stepwisev1alpha1.AnalysisPhase{errored, errored, errored, errored}, want: running},
		{name: "one error past the limit", metric: stepwisev1alpha1.Metric{Count: ptr.To[int32](9)}, record: []stepwisev1alpha1.AnalysisPhase{errored, errored, errored, errored, errored}, want: errored},
		{name: "errors are not measurements", record: []stepwisev1alpha1.AnalysisPhase{errored, errored}, want: running},
		{name: "a value after errors", record: []stepwisev1alpha1.AnalysisPhase{errored, successful}, want: successful},
		{name: "a good measurement resets the errors in a row", metric: stepwisev1alpha1.Metric{Count: ptr.To[int32](9), ConsecutiveErrorLimit: ptr.To[int32](1)}, record: []stepwisev1alpha1.AnalysisPhase{errored, successful, errored}, want: running},
		{name: "an interval without a count never ends by itself", metric: stepwisev1alpha1.Metric{Interval: ptr.To[stepwisev1alpha1.Duration]("1s")}, record: []stepwisev1alpha1.AnalysisPhase{successful, successful, successful}, want: running},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.metric
			m.Name = "m"
			r := &stepwisev1alpha1.MetricResult{Name: "m"}
			for _, phase := range tc.record {
				Record(&m, r, measurement(phase), start)
			}
			if r.Phase != tc.want {
				t.Fatalf("phase = %s; want %s (%+v)", r.Phase, tc.want, r)
			}
			if int(r.Count) != len(tc.record) {
				t.Fatalf("count = %d; want %d", r.Count, len(tc.record))
			}
		})
	}
}

func TestRecordKeepsTheLastTenMeasurements(t *testing.T) {
	m := &stepwisev1alpha1.Metric{Name: "m", Interval: ptr.To[stepwisev1alpha1.Duration]("1s")}
	r := &stepwisev1alpha1.MetricResult{Name: "m"}
	for i := range 25 {
		ms := measurement(successful)
		ms.Value = string(rune('a' + i))
		Record(m, r, ms, start.Add(time.Duration(i)*time.Second))
	}
	if len(r.Measurements) != stepwisev1alpha1.MaxMeasurements || r.Count != 25 || r.Successful != 25 {
		t.Fatalf("kept %d measurements, count %d, successful %d", len(r.Measurements), r.Count, r.Successful)
	}
	if first := r.Measurements[0].Value; first != string(rune('a'+15)) {
		t.Fatalf("oldest kept = %q; want the 16th", first)
	}
}

func TestNextDue(t *testing.T) {
	m := &stepwisev1alpha1.Metric{Name: "m", Count: ptr.To[int32](3), Interval: ptr.To[stepwisev1alpha1.Duration]("2s"), InitialDelay: ptr.To[stepwisev1alpha1.Duration]("5s")}
	r := &stepwisev1alpha1.MetricResult{Name: "m", Phase: running}
	expectDue := func(now time.Time, wantDue bool, wantWait time.Duration) {
		t.Helper()
		due, wait, err := NextDue(m, r, start, now)
		if err != nil || due != wantDue || wait != wantWait {
			t.Fatalf("NextDue at %s = %v, %s, %v; want %v, %s", now.Sub(start), due, wait, err, wantDue, wantWait)
		}
	}
	expectDue(start, false, 5*time.Second) // the initial delay
	expectDue(start.Add(5*time.Second), true, 0)
	// A measurement finishing at 5.3 s: the next is due 2 s later, at 7.3 s.
	Record(m, r, measurement(successful), start.Add(5300*time.Millisecond))
	expectDue(start.Add(7*time.Second), false, 300*time.Millisecond)
	expectDue(start.Add(7300*time.Millisecond), true, 0)
	Start(r, "job-2", start.Add(7300*time.Millisecond))
	expectDue(start.Add(20*time.Second), false, 0) // a running Job: its end wakes the run
	Record(m, r, measurement(successful), start.Add(9*time.Second))
	expectDue(start.Add(10*time.Second), false, time.Second)
	Record(m, r, measurement(successful), start.Add(11*time.Second))
	expectDue(start.Add(60*time.Second), false, 0) // done
	if r.Phase != successful || r.Measurements[1].JobName != "job-2" {
		t.Fatalf("result = %+v", r)
	}
}

func run(metrics ...stepwisev1alpha1.Metric) *stepwisev1alpha1.AnalysisRun {
	return &stepwisev1alpha1.AnalysisRun{Spec: stepwisev1alpha1.AnalysisRunSpec{Metrics: metrics}}
}

func TestConclude(t *testing.T) {
	a, b := stepwisev1alpha1.Metric{Name: "a"}, stepwisev1alpha1.Metric{Name: "b", Count: ptr.To[int32](2)}
	r := run(a, b)
	Conclude(r)
	if r.Status.Phase != running || r.Status.Summary != "0/0" {
		t.Fatalf("fresh run: %+v", r.Status)
	}
	Record(&a, Result(&r.Status, "a"), measurement(successful), start)
	Conclude(r)
	if r.Status.Phase != running || r.Status.Summary != "1/0" {
		t.Fatalf("one metric done: %+v", r.Status)
	}
	Record(&b, Result(&r.Status, "b"), stepwisev1alpha1.Measurement{Phase: failed, Value: "0.5"}, start)
	Conclude(r)
	if r.Status.Phase != failed || r.Status.Message != `metric "b" Failed: measured 0.5` {
		t.Fatalf("failed: %+v", r.Status)
	}

	terminated := run(b)
	terminated.Spec.Terminate, terminated.Spec.TerminateReason = true, "the rollout completed"
	Conclude(terminated)
	if terminated.Status.Phase != successful || terminated.Status.Message != "terminated: the rollout completed" {
		t.Fatalf("terminated: %+v", terminated.Status)
	}

	skipped := run(b)
	Record(&b, Result(&skipped.Status, "b"), stepwisev1alpha1.Measurement{Phase: successful, Value: "0.01"}, start)
	skipped.Spec.Terminate, skipped.Spec.Skip, skipped.Spec.TerminateReason = true, true, "skipped: the rollout went past step-2"
	Conclude(skipped)
	if skipped.Status.Phase != stepwisev1alpha1.AnalysisPhaseSkipped || skipped.Status.Message != "skipped: the rollout went past step-2" {
		t.Fatalf("skipped: %+v", skipped.Status)
	}
	if got := Result(&skipped.Status, "b").Phase; got != stepwisev1alpha1.AnalysisPhaseSkipped {
		t.Fatalf("the unfinished metric of a skipped run is %s, want Skipped", got)
	}

	errorRun := run(a)
	for range 5 {
		Record(&a, Result(&errorRun.Status, "a"), stepwisev1alpha1.Measurement{Phase: errored, Message: "connection refused"}, start)
	}
	Conclude(errorRun)
	if errorRun.Status.Phase != errored || errorRun.Status.Message != `metric "a" Error: measurement Error: connection refused` {
		t.Fatalf("five errors in a row: %+v", errorRun.Status)
	}
}

func TestNewRun(t *testing.T) {
	ro := testutil.Rollout("web").Namespace("ns").Obj()
	ro.Labels = map[string]string{"team": "checkout"}
	ro.UID = "uid-1"
	template := &stepwisev1alpha1.AnalysisTemplateSpec{
		Args: []stepwisev1alpha1.Argument{{Name: "service"}, {Name: "threshold", Value: ptr.To("0.05")}, {Name: "hash"}, {Name: "stable"}},
		Metrics: []stepwisev1alpha1.Metric{{
			Name: "error-rate", SuccessCondition: "result < {{args.threshold}}",
			Provider: stepwisev1alpha1.MetricProvider{Prometheus: &stepwisev1alpha1.PrometheusMetric{
				Address: "http://prom", Query: `rate(errors{service="{{args.service}}",hash="{{ args.hash }}",stable="{{args.stable}}"}[1m])`}},
		}},
	}
	in := RunInput{
		Rollout: ro, Point: StepPoint(1), Attempt: 0, Revision: 4, Hash: "abc", StableHash: "old",
		Analysis: &stepwisev1alpha1.RolloutAnalysis{
			Templates: []stepwisev1alpha1.AnalysisTemplateRef{{TemplateName: "error-rate"}},
			Args: []stepwisev1alpha1.Argument{
				{Name: "service", ValueFrom: &stepwisev1alpha1.ArgumentValueFrom{FieldRef: &stepwisev1alpha1.FieldRef{FieldPath: "metadata.labels['team']"}}},
				{Name: "hash", ValueFrom: &stepwisev1alpha1.ArgumentValueFrom{PodTemplateHashValue: ptr.To(stepwisev1alpha1.PodTemplateHashLatest)}},
				{Name: "stable", ValueFrom: &stepwisev1alpha1.ArgumentValueFrom{PodTemplateHashValue: ptr.To(stepwisev1alpha1.PodTemplateHashStable)}},
			},
		},
		Templates: []*stepwisev1alpha1.AnalysisTemplateSpec{template},
	}
	got, err := NewRun(in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "web-4-step-2" || got.Labels[stepwisev1alpha1.AnalysisPointLabel] != "step-2" || got.Labels[stepwisev1alpha1.PodTemplateHashLabel] != "abc" ||
		got.Labels[stepwisev1alpha1.AnalysisRevisionLabel] != "4" ||
		metav1.GetControllerOf(got).UID != "uid-1" {
		t.Fatalf("run metadata: %+v", got.ObjectMeta)
	}
	if q := got.Spec.Metrics[0].Provider.Prometheus.Query; q != `rate(errors{service="checkout",hash="abc",stable="old"}[1m])` {
		t.Fatalf("query = %s", q)
	}
	if template.Metrics[0].Provider.Prometheus.Query == got.Spec.Metrics[0].Provider.Prometheus.Query {
		t.Fatal("the template was changed")
	}
	in.Attempt = 2
	if retried, _ := NewRun(in); retried.Name != "web-4-step-2-retry2" {
		t.Fatalf("a retried run is named %s", retried.Name)
	}

	for _, tc := range []struct {
		name    string
		change  func(*RunInput)
		wantErr string
	}{
		{"missing template", func(in *RunInput) { in.Templates = []*stepwisev1alpha1.AnalysisTemplateSpec{nil} }, `AnalysisTemplate "error-rate" not found`},
		{"missing cluster template", func(in *RunInput) {
			in.Analysis.Templates[0].ClusterScope = true
			in.Templates = []*stepwisev1alpha1.AnalysisTemplateSpec{nil}
		}, `ClusterAnalysisTemplate "error-rate" not found`},
		{"argument without a value", func(in *RunInput) { in.Analysis.Args = in.Analysis.Args[1:] }, `argument "service" has no value`},
		{"no stable revision", func(in *RunInput) { in.StableHash = "" }, `argument "stable": the Rollout has no stable revision`},
		{"bad field path", func(in *RunInput) {
			in.Analysis.Args[0].ValueFrom.FieldRef.FieldPath = "metadata.labels['nope']"
		}, `argument "service": fieldRef: path "metadata.labels['nope']": no field "nope"`},
		{"unknown argument", func(in *RunInput) {
			in.Templates[0].Metrics[0].Provider.Prometheus.Query = "{{args.nope}}"
		}, `metric "error-rate": {{args.nope}} names no argument`},
		{"condition that does not compile", func(in *RunInput) { in.Templates[0].Metrics[0].SuccessCondition = "result <" }, `successCondition "result <"`},
		{"timeout out of range", func(in *RunInput) {
			in.Templates[0].Metrics[0].Provider.Prometheus.Timeout = ptr.To[stepwisev1alpha1.Duration]("99999999999h")
		}, `provider.prometheus.timeout`},
		{"duplicate metric", func(in *RunInput) {
			in.Analysis.Templates = append(in.Analysis.Templates, stepwisev1alpha1.AnalysisTemplateRef{TemplateName: "again"})
			in.Templates = append(in.Templates, in.Templates[0])
		}, `metric "error-rate" is in both "error-rate" and "again"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := in
			bad.Analysis = in.Analysis.DeepCopy()
			bad.Templates = []*stepwisev1alpha1.AnalysisTemplateSpec{template.DeepCopy()}
			tc.change(&bad)
			got, err := NewRun(bad)
			var invalidErr *InvalidAnalysisError
			if !errors.As(err, &invalidErr) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewRun error = %v; want an InvalidAnalysisError containing %q", err, tc.wantErr)
			}
			if got == nil || got.Spec.Invalid != err.Error() || len(got.Spec.Metrics) != 0 {
				t.Fatalf("the run of an invalid analysis: %+v", got)
			}
			Conclude(got)
			if got.Status.Phase != errored || got.Status.Message != err.Error() {
				t.Fatalf("the run of an invalid analysis concludes %+v", got.Status)
			}
		})
	}
}

func TestNewRunNamesFitTheAPI(t *testing.T) {
	ro := testutil.Rollout(strings.Repeat("a", stepwisev1alpha1.MaxNameLength)).Obj()
	got, err := NewRun(RunInput{Rollout: ro, Point: BackgroundPoint, Attempt: 12, Revision: 1234567, Hash: "h",
		Analysis: &stepwisev1alpha1.RolloutAnalysis{}, Templates: nil})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Name) > 253 || !strings.HasSuffix(got.Name, "-1234567-background-retry12") {
		t.Fatalf("name %q (%d characters)", got.Name, len(got.Name))
	}
}
