package analysisrun

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// answering serves one fixed answer and records the last request.
func answering(t *testing.T, code int, body string) (*httptest.Server, *http.Request) {
	last := &http.Request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		*last = *r.Clone(context.Background())
		last.Body = io.NopCloser(strings.NewReader(string(data)))
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, last
}

func TestPrometheusResults(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		want         any
		wantErr      string
	}{
		{"scalar", `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.25"]}}`, 0.25, ""},
		{"one sample", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0.5"]}]}}`, []any{0.5}, ""},
		{"several samples", `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"0.1"]},{"value":[1,"0.2"]}]}}`, []any{0.1, 0.2}, ""},
		{"no sample", `{"status":"success","data":{"resultType":"vector","result":[]}}`, nil, "returned no data"},
		{"NaN", `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"NaN"]}]}}`, nil, "sample value is NaN: no data"},
		{"query error", `{"status":"error","errorType":"bad_data","error":"parse error"}`, nil, "query failed: bad_data: parse error"},
		{"a matrix", `{"status":"success","data":{"resultType":"matrix","result":[]}}`, nil, `result type "matrix" is not a scalar or a vector`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			srv, last := answering(t, 200, tc.answer)
			got, err := measurePrometheus(context.Background(), srv.Client(), &stepwisev1alpha1.PrometheusMetric{
				Address: srv.URL + "/", Query: `rate(x{a="b"}[1m])`, Headers: []stepwisev1alpha1.WebHeader{{Key: "Authorization", Value: "Bearer t"}}})
			g.Expect(last.URL.Path).To(Equal("/api/v1/query"))
			g.Expect(last.URL.Query().Get("query")).To(Equal(`rate(x{a="b"}[1m])`))
			g.Expect(last.Header.Get("Authorization")).To(Equal("Bearer t"))
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
	t.Run("no data is errNoData", func(t *testing.T) {
		srv, _ := answering(t, 200, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
		_, err := measurePrometheus(context.Background(), srv.Client(), &stepwisev1alpha1.PrometheusMetric{Address: srv.URL, Query: "up"})
		if !errors.Is(err, errNoData) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestWebResults(t *testing.T) {
	g := NewWithT(t)
	srv, last := answering(t, 200, `{"data":{"ok":true,"rate":0.02}}`)
	got, err := measureWeb(context.Background(), srv.Client(), &stepwisev1alpha1.WebMetric{
		URL: srv.URL + "/check", Method: "POST", Body: `{"q":1}`, JSONPath: "$.data.rate"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(0.02))
	g.Expect(last.Method).To(Equal("POST"))
	g.Expect(last.Header.Get("Content-Type")).To(Equal("application/json"))
	body, _ := io.ReadAll(last.Body)
	g.Expect(string(body)).To(Equal(`{"q":1}`))

	whole, err := measureWeb(context.Background(), srv.Client(), &stepwisev1alpha1.WebMetric{URL: srv.URL})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(whole).To(HaveKey("data"))

	_, err = measureWeb(context.Background(), srv.Client(), &stepwisev1alpha1.WebMetric{URL: srv.URL, JSONPath: "$.data.missing"})
	g.Expect(err).To(MatchError(ContainSubstring(`no field "missing"`)))
}

// Provider failures are errors whose messages keep no secret of the URL.
func TestWebErrors(t *testing.T) {
	g := NewWithT(t)
	notFound, _ := answering(t, 503, "overloaded\nmore")
	_, err := measureWeb(context.Background(), notFound.Client(), &stepwisev1alpha1.WebMetric{URL: notFound.URL + "/x?token=secret"})
	g.Expect(err).To(MatchError(And(ContainSubstring("HTTP 503: overloaded"), Not(ContainSubstring("secret")))))

	notJSON, _ := answering(t, 200, "<html>")
	_, err = measureWeb(context.Background(), notJSON.Client(), &stepwisev1alpha1.WebMetric{URL: notJSON.URL})
	g.Expect(err).To(MatchError(ContainSubstring("the answer is not JSON")))

	closed, _ := answering(t, 200, "{}")
	closed.Close()
	_, err = measureWeb(context.Background(), http.DefaultClient, &stepwisev1alpha1.WebMetric{URL: "http://user:pw@" + strings.TrimPrefix(closed.URL, "http://") + "/?token=secret"})
	g.Expect(err).To(MatchError(And(ContainSubstring("connection refused"), Not(ContainSubstring("secret")), Not(ContainSubstring("pw")))))

	blocked := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-blocked }))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(blocked) })
	_, err = measureWeb(context.Background(), slow.Client(), &stepwisev1alpha1.WebMetric{URL: slow.URL, Timeout: ptr.To[stepwisev1alpha1.Duration]("200ms")})
	g.Expect(err).To(MatchError(ContainSubstring("context deadline exceeded")))
}

func TestJobNamesFitALabel(t *testing.T) {
	g := NewWithT(t)
	short := &stepwisev1alpha1.AnalysisRun{}
	short.Name = "web-2-step-2"
	g.Expect(jobName(short, "smoke", 1)).To(Equal("web-2-step-2-smoke-1"))
	long := &stepwisev1alpha1.AnalysisRun{}
	long.Name = strings.Repeat("a", 200) + "-2-step-2"
	name := jobName(long, "smoke", 12)
	g.Expect(len(name)).To(BeNumerically("<=", 63))
	g.Expect(jobName(long, "smoke", 12)).To(Equal(name), "the same name every time")
	g.Expect(jobName(long, "smoke", 13)).NotTo(Equal(name))
}
