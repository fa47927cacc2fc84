package testenv_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/stepwise-dev/stepwise/test/testenv"
)

// errorRate is the query an analysis template asks of Prometheus: the share of a version's
// requests that failed over the last 10 s.
func errorRate(version string) string {
	return `sum(rate(requests_total{version="` + version + `",code=~"5.."}[10s])) / sum(rate(requests_total{version="` + version + `"}[10s]))`
}

// TestPrometheusTellsGoodVersionFromBad runs the real Prometheus server against the exporter:
// what the analysis tests stand on.
func TestPrometheusTellsGoodVersionFromBad(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	exporter := testenv.StartExporter()
	t.Cleanup(exporter.Stop)
	exporter.SetTraffic("v1", 20, 0)
	exporter.SetTraffic("v2", 20, 0.5)

	prometheus, err := testenv.StartPrometheus(ctx, t.TempDir(), exporter.Addr)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(prometheus.Stop)

	g.Eventually(func(g Gomega) {
		bad, err := prometheus.Query(ctx, errorRate("v2"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(bad).To(ConsistOf(BeNumerically("~", 0.5, 0.01)))
		good, err := prometheus.Query(ctx, errorRate("v1"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(good).To(ConsistOf(BeZero()))
	}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
}
