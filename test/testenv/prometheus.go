package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/stepwise-dev/stepwise/internal/testutil"
	"github.com/stepwise-dev/stepwise/test/cluster"
)

// Prometheus is a real Prometheus server (the binary `make tools` builds into the bin
// directory) scraping loopback targets every second, for the analysis tests.
type Prometheus struct {
	// URL is the server's base URL, the address an analysis template queries.
	URL    string
	Log    *testutil.Log
	cmd    *exec.Cmd
	exited chan struct{}
}

// prometheusConfig is the part of prometheus.yml the tests set.
type prometheusConfig struct {
	Global        scrapeSettings `json:"global"`
	ScrapeConfigs []scrapeConfig `json:"scrape_configs"`
}

type scrapeSettings struct {
	ScrapeInterval string `json:"scrape_interval"`
	ScrapeTimeout  string `json:"scrape_timeout"`
}

type scrapeConfig struct {
	JobName       string         `json:"job_name"`
	StaticConfigs []staticConfig `json:"static_configs"`
}

type staticConfig struct {
	Targets []string `json:"targets"`
}

// StartPrometheus starts Prometheus with its configuration and data in dir, scraping targets
// (host:port, /metrics) every second, and returns once it is ready. ctx bounds the start
// only; Stop ends the server.
func StartPrometheus(ctx context.Context, dir string, targets ...string) (*Prometheus, error) {
	binDir, err := cluster.DefaultBinDir()
	if err != nil {
		return nil, err
	}
	binary := filepath.Join(binDir, "prometheus")
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("the Prometheus server is not built (run `make tools`): %w", err)
	}
	config, err := yaml.Marshal(prometheusConfig{
		Global:        scrapeSettings{ScrapeInterval: "1s", ScrapeTimeout: "1s"},
		ScrapeConfigs: []scrapeConfig{{JobName: "stepwise-test", StaticConfigs: []staticConfig{{Targets: targets}}}},
	})
	if err != nil {
		return nil, err
	}
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, config, 0o600); err != nil {
		return nil, err
	}
	ports, err := cluster.FreePorts(1)
	if err != nil {
		return nil, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(ports[0])
	p := &Prometheus{URL: "http://" + listen, Log: &testutil.Log{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary,
		"--config.file="+configFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen,
	)
	p.cmd.Stdout, p.cmd.Stderr = p.Log, p.Log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting Prometheus: %w", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(ctx); err != nil {
		p.Stop()
		return nil, fmt.Errorf("waiting for Prometheus to be ready: %w\n%s", err, p.Log.Tail())
	}
	return p, nil
}

// waitReady polls /-/ready until it answers 200, the process exits, or a minute has passed.
func (p *Prometheus) waitReady(ctx context.Context) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case <-p.exited:
			return false, fmt.Errorf("prometheus exited: %s", p.cmd.ProcessState)
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil // not listening yet
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// Stop kills the server and waits until it has exited.
func (p *Prometheus) Stop() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// queryResponse is the body of /api/v1/query.
type queryResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// Query runs an instant PromQL query and returns its values: one per sample of a vector, or
// the scalar alone.
func (p *Prometheus) Query(ctx context.Context, query string) ([]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?"+url.Values{"query": {query}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("querying %q: %w", query, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("querying %q: %w", query, err)
	}
	var r queryResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("querying %q: %s: %w", query, resp.Status, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("querying %q: %s: %s", query, resp.Status, r.Error)
	}
	switch r.Data.ResultType {
	case "scalar":
		value, err := parseSampleValue(r.Data.Result)
		if err != nil {
			return nil, fmt.Errorf("querying %q: %w", query, err)
		}
		return []float64{value}, nil
	case "vector":
		var samples []struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &samples); err != nil {
			return nil, fmt.Errorf("querying %q: %w", query, err)
		}
		values := make([]float64, 0, len(samples))
		for _, s := range samples {
			value, err := parseSampleValue(s.Value)
			if err != nil {
				return nil, fmt.Errorf("querying %q: %w", query, err)
			}
			values = append(values, value)
		}
		return values, nil
	default:
		return nil, fmt.Errorf("querying %q: result type %q is neither a scalar nor a vector", query, r.Data.ResultType)
	}
}

// parseSampleValue reads the API's [timestamp, "value"] pair.
func parseSampleValue(raw json.RawMessage) (float64, error) {
	var pair []any
	if err := json.Unmarshal(raw, &pair); err != nil {
		return 0, fmt.Errorf("decoding sample %s: %w", raw, err)
	}
	var text string
	if len(pair) == 2 {
		text, _ = pair[1].(string)
	}
	value, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, fmt.Errorf("decoding sample %s: %w", raw, err)
	}
	return value, nil
}
