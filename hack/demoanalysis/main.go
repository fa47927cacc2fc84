// Command demoanalysis serves what `make demo-analysis` needs beside the local cluster: an
// exporter of per-version request counters (v1 and v2 healthy, v3 failing half its requests)
// and a real Prometheus server scraping it. It prints Prometheus's URL, then runs until
// interrupted.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/stepwise-dev/stepwise/test/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demoanalysis:", err)
		os.Exit(1)
	}
}

func run() error {
	exporter := testenv.StartExporter()
	defer exporter.Stop()
	for version, errorRatio := range map[string]float64{"v1": 0, "v2": 0, "v3": 0.5} {
		exporter.SetTraffic(version, 100, errorRatio)
	}
	dir := filepath.Join(".local", "demo-prometheus")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	prom, err := testenv.StartPrometheus(context.Background(), dir, exporter.Addr)
	if err != nil {
		return err
	}
	defer prom.Stop()
	fmt.Println(prom.URL)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	return nil
}
