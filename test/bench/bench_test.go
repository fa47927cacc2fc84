package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"

	"github.com/stepwise-dev/stepwise/test/cluster"
)

// TestSmoke runs the smallest benchmark end to end, so that make bench cannot rot: both
// controllers roll the same case out on a real cluster, twice each so that each one is
// stopped and started again, every figure is measured, and the report files are written. It
// checks that figures exist, never what they are.
func TestSmoke(t *testing.T) {
	out := t.TempDir()
	var log bytes.Buffer
	report, err := Run(context.Background(), Options{Out: out, Matrix: "smoke", Profiles: Profiles[:1], Repeat: 2, Idle: []int{20}, Timeline: true, Isolate: true, Log: &log,
		ComparePolicy: stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes})
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Cases) != 1 || len(report.Idle) != 1 {
		t.Fatalf("got %d cases and %d idle results, want 1 and 1", len(report.Cases), len(report.Idle))
	}
	if report.Cases[0].Compared == nil || len(report.Cases[0].ComparedRuns) != 2 {
		t.Fatalf("the compared policy ran %d times, want 2", len(report.Cases[0].ComparedRuns))
	}
	sizes := StepwiseWith(stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes)
	for ctrl, m := range map[Controller]Measure{Deployment: report.Cases[0].Deployment, Stepwise: report.Cases[0].Stepwise, sizes: *report.Cases[0].Compared} {
		if m.TimedOut || m.CompletionSeconds <= 0 {
			t.Errorf("%s: no completion time: %+v", ctrl, m)
		}
		if m.Violations != 0 {
			t.Errorf("%s broke a bound: %s", ctrl, m.FirstViolation)
		}
		if m.Decisions == 0 || m.DecisionP99Ms < m.DecisionP50Ms {
			t.Errorf("%s: decision latencies %d, p50 %v, p99 %v", ctrl, m.Decisions, m.DecisionP50Ms, m.DecisionP99Ms)
		}
		if m.ControllerWritesPerPod <= 0 || m.WritesPerPod["replicaset-controller"] <= 0 {
			t.Errorf("%s: writes per pod not counted: %v", ctrl, m.WritesPerPod)
		}
		if m.ControllerWrites["create replicasets"] != 1 {
			t.Errorf("%s: writes by request %v, want one ReplicaSet created", ctrl, m.ControllerWrites)
		}
		if m.CPUSeconds <= 0 || m.PeakRSSMB <= 0 {
			t.Errorf("%s: CPU %v s, peak RSS %v MiB", ctrl, m.CPUSeconds, m.PeakRSSMB)
		}
		if m.ClusterCPUSeconds["kube-controller-manager"] <= 0 || m.APIServerCPUSeconds != m.ClusterCPUSeconds["kube-apiserver"] {
			t.Errorf("%s: cluster CPU %v, API server %v s", ctrl, m.ClusterCPUSeconds, m.APIServerCPUSeconds)
		}
	}
	for ctrl, runs := range map[Controller][]Measure{Deployment: report.Cases[0].DeploymentRuns, Stepwise: report.Cases[0].StepwiseRuns, sizes: report.Cases[0].ComparedRuns} {
		if len(runs) != 2 {
			t.Fatalf("%s ran %d times, want 2", ctrl, len(runs))
		}
		for _, m := range runs {
			if _, ran := m.ClusterCPUSeconds[cluster.DeploymentControllerProcess]; ran != (ctrl == Deployment) {
				t.Errorf("%s's run: the Deployment controller ran: %v", ctrl, m.ClusterCPUSeconds)
			}
		}
	}
	if idle := report.Idle[0]; idle.Rollouts != 20 || idle.ResyncSeconds <= 0 || idle.RSSMB <= 0 || idle.LiveHeapMB <= 0 {
		t.Errorf("idle result %+v", idle)
	}
	if info, err := os.Stat(filepath.Join(out, "logs", "heap-idle-default-20.pprof")); err != nil || info.Size() == 0 {
		t.Errorf("no heap profile of the idle controller: %v", err)
	}

	for _, ctrl := range []Controller{Deployment, Stepwise, sizes} {
		checkTimelineEndsComplete(t, filepath.Join(out, "logs", "timeline-0-0-"+string(ctrl)+".csv"), report.Cases[0].Replicas)
	}

	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var written Report
	if err := json.Unmarshal(data, &written); err != nil || len(written.Cases) != 1 {
		t.Errorf("results.json: %v, %d cases", err, len(written.Cases))
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil || !strings.Contains(string(md), report.Cases[0].Case) {
		t.Errorf("results.md lacks the case (%v):\n%s", err, md)
	}
	f, err := os.Open(filepath.Join(out, "completion.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("completion.png: %v", err)
	}
}

// checkTimelineEndsComplete checks that a timeline's last state is the complete rollout:
// replicas new pods ready, and no old pod left.
func checkTimelineEndsComplete(t *testing.T, path string, replicas int32) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 3 || lines[0] != "rollout,"+timelineHeader {
		t.Fatalf("%s: want the header, the first state and more:\n%s", path, data)
	}
	last := strings.Split(lines[len(lines)-1], ",")
	want := map[string]string{"new_ready": fmt.Sprint(replicas), "old_pods": "0"}
	for i, column := range strings.Split(lines[0], ",") {
		if w, ok := want[column]; ok && last[i] != w {
			t.Errorf("%s: last state has %s %s, want %s: %s", path, column, last[i], w, lines[len(lines)-1])
		}
	}
}

func TestMachineBusy(t *testing.T) {
	busy, total, err := machineBusy()
	if err != nil || busy <= 0 || total <= busy {
		t.Errorf("machineBusy() = %v, %v, %v; want 0 < busy < total", busy, total, err)
	}
}

func TestCaseArithmetic(t *testing.T) {
	for _, tc := range []struct {
		c                  Case
		surge, unavailable int32
		lowerBound         time.Duration
	}{
		// 25% of 10: surge rounds up to 3, unavailable down to 2; 2 waves.
		{Case{Replicas: 10, MaxSurge: quarter, MaxUnavailable: quarter, ReadyDelay: time.Second}, 3, 2, 2 * time.Second},
		{Case{Replicas: 100, MaxSurge: one, MaxUnavailable: zero, ReadyDelay: time.Second}, 1, 0, 100 * time.Second},
		// Both 0 would never progress: a Deployment takes maxUnavailable 1.
		{Case{Replicas: 3, MaxSurge: zero, MaxUnavailable: intstr.FromString("10%"), ReadyDelay: time.Second}, 0, 1, 3 * time.Second},
		{Case{Replicas: 1000, MaxSurge: quarter, MaxUnavailable: quarter}, 250, 250, 0},
	} {
		surge, unavailable := tc.c.Bounds()
		if surge != tc.surge || unavailable != tc.unavailable || tc.c.LowerBound() != tc.lowerBound {
			t.Errorf("%s: bounds %d/%d, lower bound %s; want %d/%d, %s", tc.c, surge, unavailable, tc.c.LowerBound(), tc.surge, tc.unavailable, tc.lowerBound)
		}
	}
}

func TestMedianOfRepetitions(t *testing.T) {
	runs := []Measure{
		{CompletionSeconds: 3, DecisionP99Ms: 40, WritesPerPod: map[string]float64{"kwok": 4}, ControllerWrites: map[string]int{"patch replicasets": 9}, ClusterCPUSeconds: map[string]float64{"etcd": 6}},
		{CompletionSeconds: 1, DecisionP99Ms: 10, Violations: 2, FirstViolation: "7 pods", WritesPerPod: map[string]float64{"kwok": 2}},
		{CompletionSeconds: 2, DecisionP99Ms: 20, WritesPerPod: map[string]float64{"kwok": 3}, ControllerWrites: map[string]int{"patch replicasets": 5}, ClusterCPUSeconds: map[string]float64{"etcd": 2}},
		{TimedOut: true, DecisionP99Ms: 30, WritesPerPod: map[string]float64{"kwok": 5}},
	}
	m := median(runs)
	if m.CompletionSeconds != 2 || !m.TimedOut {
		t.Errorf("completion %v timed out %v; want the completed runs' median 2, and a timeout", m.CompletionSeconds, m.TimedOut)
	}
	if m.DecisionP99Ms != 25 || m.WritesPerPod["kwok"] != 3.5 || m.ControllerWrites["patch replicasets"] != 2 || m.ClusterCPUSeconds["etcd"] != 1 {
		t.Errorf("p99 %v, kwok %v, patches %v, etcd CPU %v; want 25, 3.5, 2, 1 (an absent figure is 0)",
			m.DecisionP99Ms, m.WritesPerPod["kwok"], m.ControllerWrites["patch replicasets"], m.ClusterCPUSeconds["etcd"])
	}
	if m.Violations != 2 || m.FirstViolation != "7 pods" {
		t.Errorf("violations %d %q: every run's must count", m.Violations, m.FirstViolation)
	}
	if one := median(runs[:1]); one.CompletionSeconds != 3 {
		t.Errorf("a single run is its own median: %+v", one)
	}
}

func TestRepetitionsAlternateAndReportTheirRange(t *testing.T) {
	if first, second := runOrder(0, ""), runOrder(1, ""); !slices.Equal(first, []Controller{Deployment, Stepwise}) || !slices.Equal(second, []Controller{Stepwise, Deployment}) {
		t.Errorf("orders %v then %v; want the Deployment controller first, then Stepwise", first, second)
	}
	sizes := StepwiseWith(stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes)
	if first, second := runOrder(0, sizes.policy()), runOrder(1, sizes.policy()); !slices.Equal(first, []Controller{Deployment, Stepwise, sizes}) || !slices.Equal(second, []Controller{sizes, Stepwise, Deployment}) {
		t.Errorf("orders %v then %v; want the compared policy last, then first", first, second)
	}
	c := CaseResult{
		Case:           "n=10 25%/25% ready=0s x1",
		DeploymentRuns: []Measure{{CompletionSeconds: 2}, {CompletionSeconds: 4}, {TimedOut: true}},
		StepwiseRuns:   []Measure{{CompletionSeconds: 1.8}, {CompletionSeconds: 5}, {CompletionSeconds: 3}},
	}
	c.Deployment, c.Stepwise = median(c.DeploymentRuns), median(c.StepwiseRuns)
	if lo, hi := c.RatioRange(); lo != 0.9 || hi != 1.25 {
		t.Errorf("range %v–%v, want 0.9–1.25 (the timed-out pair left out)", lo, hi)
	}
	md := (&Report{Repeat: 3, Cases: []CaseResult{c}}).Markdown()
	if !strings.Contains(md, "(0.90–1.25)") || !strings.Contains(md, "ran 3 times") {
		t.Errorf("results.md lacks the range or the repetitions:\n%s", md)
	}
	c.StepwiseRuns[0].StrictViolations = 2
	c.Stepwise = median(c.StepwiseRuns)
	c.ComparedRuns = []Measure{{CompletionSeconds: 1.5, StrictViolations: 7}, {CompletionSeconds: 4}, {CompletionSeconds: 3}}
	c.Compared = ptr.To(median(c.ComparedRuns))
	md = (&Report{Repeat: 3, Cases: []CaseResult{c}, ComparedPolicy: stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes}).Markdown()
	if !strings.Contains(md, "podReplacementPolicy against ReplicaSetSizes") || !strings.Contains(md, "| 3.00 / 3.00 | 1.00 (1.00–1.25) | 0 / 2 / 7 |") {
		t.Errorf("results.md lacks the compared policy's table or its figures:\n%s", md)
	}
	if idleOnly := (&Report{Idle: []IdleResult{{Rollouts: 10}}}).Markdown(); strings.Contains(idleOnly, "| # | profile | case |") {
		t.Errorf("an idle-only report has an empty table of cases:\n%s", idleOnly)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p50, p99 := percentileMs(ds, 50), percentileMs(ds, 99); p50 != 50 || p99 != 99 {
		t.Errorf("p50 %v, p99 %v; want 50, 99", p50, p99)
	}
	if p := percentileMs(ds[:1], 99); p != 100 {
		t.Errorf("one sample: p99 %v, want 100", p)
	}
	if p := percentileMs(nil, 50); p != 0 {
		t.Errorf("no samples: %v", p)
	}
}

func TestClientOf(t *testing.T) {
	for ua, want := range map[string]string{
		"kube-controller-manager/v0.0.0 (linux/amd64) kubernetes/$Format/deployment-controller": "deployment-controller",
		"kube-controller-manager/v0.0.0 (linux/amd64) kubernetes/$Format/replicaset-controller": "replicaset-controller",
		"stepwise-controller/v0.0.0 (linux/amd64) kubernetes/$Format":                           "stepwise-controller",
		"kwok/v0.8.0": "kwok",
	} {
		if got := clientOf(ua); got != want {
			t.Errorf("clientOf(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestSample(t *testing.T) {
	series, v, ok := sample(`workqueue_depth{controller="rollout",name="rollout"} 3`)
	if !ok || series != `workqueue_depth{controller="rollout",name="rollout"}` || v != 3 {
		t.Errorf("got %q %v %v", series, v, ok)
	}
	if _, _, ok := sample("# HELP workqueue_depth Current depth"); ok {
		t.Error("a comment parsed as a sample")
	}
}
