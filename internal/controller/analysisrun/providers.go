package analysisrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/analysis"
)

// maxBody bounds what a measurement reads of an answer.
const maxBody = 1 << 20

// errNoData is a query or path that found nothing: an error, not a failure.
var errNoData = errors.New("no data")

// measureWeb calls the metric's URL and returns the JSON value at its jsonPath.
func measureWeb(ctx context.Context, hc *http.Client, m *stepwisev1alpha1.WebMetric) (any, error) {
	method := m.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if m.Body != "" {
		body = strings.NewReader(m.Body)
	}
	doc, err := getJSON(ctx, hc, m.Timeout, method, m.URL, body, m.Headers)
	if err != nil {
		return nil, err
	}
	return analysis.Lookup(doc, m.JSONPath)
}

// measurePrometheus runs the metric's instant query: a scalar is a number, a vector a list of
// numbers (one per series), an empty vector errNoData.
func measurePrometheus(ctx context.Context, hc *http.Client, m *stepwisev1alpha1.PrometheusMetric) (any, error) {
	endpoint := strings.TrimSuffix(m.Address, "/") + "/api/v1/query?" + url.Values{"query": {m.Query}}.Encode()
	doc, err := getJSON(ctx, hc, m.Timeout, http.MethodGet, endpoint, nil, m.Headers)
	if err != nil {
		return nil, err
	}
	var answer struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	raw, _ := json.Marshal(doc)
	if err := json.Unmarshal(raw, &answer); err != nil {
		return nil, fmt.Errorf("not a Prometheus query answer: %w", err)
	}
	if answer.Status != "success" {
		return nil, fmt.Errorf("query failed: %s: %s", answer.ErrorType, answer.Error)
	}
	switch answer.Data.ResultType {
	case "scalar":
		var sample []any
		if err := json.Unmarshal(answer.Data.Result, &sample); err != nil {
			return nil, fmt.Errorf("scalar result: %w", err)
		}
		return sampleValue(sample)
	case "vector":
		var series []struct {
			Value []any `json:"value"`
		}
		if err := json.Unmarshal(answer.Data.Result, &series); err != nil {
			return nil, fmt.Errorf("vector result: %w", err)
		}
		values := make([]any, 0, len(series))
		for _, s := range series {
			v, err := sampleValue(s.Value)
			if err != nil {
				return nil, err
			}
			values = append(values, v)
		}
		if len(values) == 0 {
			return nil, fmt.Errorf("query %q returned %w", m.Query, errNoData)
		}
		return values, nil // a list even of one: result's type does not depend on how many series match
	}
	return nil, fmt.Errorf("result type %q is not a scalar or a vector", answer.Data.ResultType)
}

// sampleValue reads a Prometheus [timestamp, "value"] pair; NaN (as 0/0 gives) is no data.
func sampleValue(sample []any) (float64, error) {
	if len(sample) != 2 {
		return 0, fmt.Errorf("sample %v is not [time, value]", sample)
	}
	s, ok := sample[1].(string)
	if !ok {
		return 0, fmt.Errorf("sample value %v is not a string", sample[1])
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("sample value %q: %w", s, err)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("sample value is %s: %w", s, errNoData)
	}
	return v, nil
}

// getJSON makes a request within the metric's timeout and decodes a 2xx JSON answer.
func getJSON(ctx context.Context, hc *http.Client, timeout *stepwisev1alpha1.Duration, method, target string, body io.Reader, headers []stepwisev1alpha1.WebHeader) (any, error) {
	limit, err := analysis.ParseDuration(timeout)
	if err != nil {
		return nil, fmt.Errorf("timeout: %w", err)
	}
	if limit == 0 {
		limit = analysis.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	for _, h := range headers {
		req.Header.Add(h.Key, h.Value)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			urlErr.URL = redact(urlErr.URL)
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, redact(target), resp.StatusCode, firstLine(data))
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("the answer is not JSON: %w", err)
	}
	return doc, nil
}

// redact drops a URL's query and credentials from messages that end up in status.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "the URL"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
