package testenv

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Exporter serves, on loopback, what an application's /metrics would: a counter
// requests_total{version, code} per version and status code, in Prometheus's text format.
// Each version's counters grow at the traffic SetTraffic last gave it; they are computed when
// scraped from the time elapsed, so no ticker drives them.
type Exporter struct {
	// Addr is the host:port Prometheus scrapes.
	Addr   string
	server *httptest.Server

	mu       sync.Mutex
	versions map[string]*traffic
}

// traffic is one version's requests: the counts up to since, and the rate they grow at since.
type traffic struct {
	ok, failed        float64
	since             time.Time
	requestsPerSecond float64
	errorRatio        float64
}

// countsAt is the version's counts of successful and failed requests at now.
func (t *traffic) countsAt(now time.Time) (ok, failed float64) {
	requests := t.requestsPerSecond * now.Sub(t.since).Seconds()
	return t.ok + requests*(1-t.errorRatio), t.failed + requests*t.errorRatio
}

// StartExporter serves the counters until Stop; no version has traffic yet.
func StartExporter() *Exporter {
	e := &Exporter{versions: map[string]*traffic{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", e.serveMetrics)
	e.server = httptest.NewServer(mux)
	e.Addr = e.server.Listener.Addr().String()
	return e
}

// SetTraffic has version serve requestsPerSecond from now on, errorRatio of them (0 to 1)
// failing with a 500; the counts so far are kept, as a counter's are.
func (e *Exporter) SetTraffic(version string, requestsPerSecond, errorRatio float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	t, ok := e.versions[version]
	if !ok {
		t = &traffic{}
		e.versions[version] = t
	}
	t.ok, t.failed = t.countsAt(now)
	t.since, t.requestsPerSecond, t.errorRatio = now, requestsPerSecond, errorRatio
}

// Stop stops serving.
func (e *Exporter) Stop() { e.server.Close() }

// serveMetrics writes both codes of every version, a zero included, so that an error-rate
// query finds a 5xx series (and answers 0) for a version that never failed.
func (e *Exporter) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	now := time.Now()
	var body strings.Builder
	body.WriteString("# HELP requests_total Requests served, by version and status code.\n# TYPE requests_total counter\n")
	for _, version := range slices.Sorted(maps.Keys(e.versions)) {
		ok, failed := e.versions[version].countsAt(now)
		fmt.Fprintf(&body, "requests_total{version=%q,code=\"200\"} %s\n", version, strconv.FormatFloat(ok, 'g', -1, 64))
		fmt.Fprintf(&body, "requests_total{version=%q,code=\"500\"} %s\n", version, strconv.FormatFloat(failed, 'g', -1, 64))
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(body.String()))
}
