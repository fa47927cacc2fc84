package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// idle measures the controller with n idle Rollouts of one replica: the time a restarted
// controller takes to reconcile every one of them once (a full resync), and its memory then.
func (r *runner) idle(ctx context.Context, n int) (IdleResult, error) {
	res := IdleResult{Rollouts: n}
	if err := r.prepare(Stepwise); err != nil {
		return res, err
	}
	ns := fmt.Sprintf("idle-%d", n)
	if err := r.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return res, err
	}
	defer func() {
		if err := r.deleteNamespace(context.WithoutCancel(ctx), ns); err != nil {
			r.logf("cleaning up %s: %v", ns, err)
		}
	}()
	w, err := startWatcher(r.kube, ns)
	if err != nil {
		return res, err
	}
	defer w.stop()
	start := time.Now()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("r%05d", i)
	}
	c := Case{Replicas: 1, MaxSurge: quarter, MaxUnavailable: quarter}
	if err := r.createAll(ctx, ns, names, c); err != nil {
		return res, err
	}
	// Creating thousands of Rollouts saturates a small API server for minutes: allow time per
	// Rollout.
	timeout := 5*time.Minute + time.Duration(n)*150*time.Millisecond
	if err := waitFor(ctx, timeout, func() bool { return w.settled(names, 1) }); err != nil {
		return res, fmt.Errorf("waiting for %d idle Rollouts to be available: %w", n, err)
	}
	res.SetupSeconds = time.Since(start).Seconds()

	r.stopStepwise()
	if err := r.startStepwise(); err != nil {
		return res, err
	}
	restarted := time.Now()
	var scrapeErr error
	if err := waitFor(ctx, timeout, func() bool {
		m, err := r.controllerMetrics(ctx)
		scrapeErr = err
		return err == nil && m.reconciles >= float64(n) && m.queueDepth == 0
	}); err != nil {
		return res, fmt.Errorf("waiting for the full resync (last scrape: %v): %w", scrapeErr, err)
	}
	res.ResyncSeconds = time.Since(restarted).Seconds()
	pid := r.stepwise.Process.Pid
	if res.RSSMB, err = memoryMB(pid, "VmRSS"); err != nil {
		return res, err
	}
	if res.PeakRSSMB, err = memoryMB(pid, "VmHWM"); err != nil {
		return res, err
	}
	if res.CPUSeconds, err = cpuSeconds(pid); err != nil {
		return res, err
	}
	m, err := r.controllerMetrics(ctx)
	if err != nil {
		return res, err
	}
	res.LiveHeapMB = m.liveHeapBytes / (1 << 20)
	// The heap profile shows what the live heap holds: go tool pprof -sample_index=inuse_space.
	return res, r.saveProfile(ctx, "heap", fmt.Sprintf("heap-idle-%s-%d.pprof", r.profile.Name, n))
}

// saveProfile writes the controller's pprof profile name to file in the logs directory.
func (r *runner) saveProfile(ctx context.Context, name, file string) error {
	body, err := get(ctx, r.pprofURL+name)
	if err != nil {
		return err
	}
	defer body.Close()
	f, err := os.Create(filepath.Join(r.opts.Out, "logs", file))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return fmt.Errorf("saving the %s profile: %w", name, err)
	}
	return f.Close()
}

// createAll creates the Rollouts names of case c, a few requests at a time.
func (r *runner) createAll(ctx context.Context, ns string, names []string, c Case) error {
	const parallel = 8
	next := make(chan string)
	errs := make(chan error, parallel)
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for name := range next {
				if err := r.client.Create(ctx, workload(Stepwise, ns, name, c)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for _, name := range names {
		select {
		case next <- name:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return err
}

// controllerMetrics are the controller's figures that the idle measurement reads.
type controllerMetrics struct {
	reconciles, queueDepth float64
	// liveHeapBytes is the heap the last garbage collection kept.
	liveHeapBytes float64
}

// controllerMetrics scrapes the controller's metrics endpoint.
func (r *runner) controllerMetrics(ctx context.Context) (controllerMetrics, error) {
	var m controllerMetrics
	body, err := get(ctx, r.metricsURL)
	if err != nil {
		return m, err
	}
	defer body.Close()
	scanner := bufio.NewScanner(body)
	for scanner.Scan() {
		name, value, ok := sample(scanner.Text())
		switch {
		case !ok:
		case strings.HasPrefix(name, `controller_runtime_reconcile_total{controller="rollout"`):
			m.reconciles += value
		case strings.HasPrefix(name, `workqueue_depth{controller="rollout"`):
			m.queueDepth += value
		case name == "go_gc_heap_live_bytes":
			m.liveHeapBytes = value
		}
	}
	return m, scanner.Err()
}

// get returns the body of a successful GET of url.
func get(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

// sample splits a Prometheus text-format line into series and value.
func sample(line string) (series string, value float64, ok bool) {
	if strings.HasPrefix(line, "#") {
		return "", 0, false
	}
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(line[i+1:], 64)
	return line[:i], v, err == nil
}
