package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// Report is the outcome of a benchmark run, written as results.json and results.md.
type Report struct {
	Date      string `json:"date"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	CPUs      int    `json:"cpus"`
	Matrix    string `json:"matrix"`
	// Repeat is how many times each case ran through each controller.
	Repeat int `json:"repeat"`
	// Isolated: only the controller under test ran during each run (Options.Isolate).
	Isolated bool `json:"isolated"`
	// ComparedPolicy is the podReplacementPolicy of Stepwise's third run of each case, if
	// any (Options.ComparePolicy).
	ComparedPolicy stepwisev1alpha1.PodReplacementPolicy `json:"comparedPolicy,omitempty"`
	Cases          []CaseResult                          `json:"cases"`
	Idle           []IdleResult                          `json:"idle,omitempty"`
}

// CaseResult is one case through both controllers.
type CaseResult struct {
	Profile           string  `json:"profile"`
	Case              string  `json:"case"`
	Replicas          int32   `json:"replicas"`
	Concurrent        int     `json:"concurrent"`
	Strategy          string  `json:"strategy"`
	ReadyDelaySeconds float64 `json:"readyDelaySeconds"`
	// LowerBoundSeconds is ceil(replicas / (surge + unavailable)) × ready delay.
	LowerBoundSeconds float64 `json:"lowerBoundSeconds"`
	// Deployment and Stepwise are the medians of the runs, which are kept when there were
	// several (Options.Repeat).
	Deployment     Measure   `json:"deployment"`
	Stepwise       Measure   `json:"stepwise"`
	DeploymentRuns []Measure `json:"deploymentRuns,omitempty"`
	StepwiseRuns   []Measure `json:"stepwiseRuns,omitempty"`
	// Compared is Stepwise with Report.ComparedPolicy, if any.
	Compared     *Measure  `json:"compared,omitempty"`
	ComparedRuns []Measure `json:"comparedRuns,omitempty"`
}

// Ratio is Stepwise's completion time over the Deployment controller's (0 when unknown).
func (c CaseResult) Ratio() float64 { return completionRatio(c.Stepwise, c.Deployment) }

// RatioRange is the lowest and highest completion ratio of the repetitions, each
// Stepwise run over the Deployment run of the same repetition (0, 0 for a single run).
func (c CaseResult) RatioRange() (lowest, highest float64) {
	return ratioRange(c.StepwiseRuns, c.DeploymentRuns)
}

// completionRatio is a's completion time over b's (0 when unknown).
func completionRatio(a, b Measure) float64 {
	if a.TimedOut || b.TimedOut || b.CompletionSeconds == 0 {
		return 0
	}
	return a.CompletionSeconds / b.CompletionSeconds
}

// ratioRange is the lowest and highest completion ratio of a's runs over b's of the same
// repetition (0, 0 for a single run).
func ratioRange(a, b []Measure) (lowest, highest float64) {
	for i := range min(len(a), len(b)) {
		r := completionRatio(a[i], b[i])
		if r == 0 {
			continue
		}
		if lowest == 0 || r < lowest {
			lowest = r
		}
		highest = max(highest, r)
	}
	return lowest, highest
}

// Measure is one case through one controller.
type Measure struct {
	// CompletionSeconds runs from the template change to every new pod available and no old
	// pod left (for concurrent rollouts, from the first change to the last completion).
	CompletionSeconds float64 `json:"completionSeconds"`
	TimedOut          bool    `json:"timedOut,omitempty"`
	// Decisions are the scales that followed the new ReplicaSet reporting more available
	// pods; P50/P99 of the time between the two, as the watcher saw them.
	Decisions     int     `json:"decisions"`
	DecisionP50Ms float64 `json:"decisionP50Ms"`
	DecisionP99Ms float64 `json:"decisionP99Ms"`
	// Violations of replicas+maxSurge (ReplicaSet sum, pods counted up to desired) and
	// replicas-maxUnavailable available, checked on every observed state.
	Violations     int    `json:"violations"`
	FirstViolation string `json:"firstViolation,omitempty"`
	// StrictViolations are the observed states whose pods that exist and are not
	// terminating, all counted, exceed replicas+maxSurge.
	StrictViolations     int    `json:"strictViolations"`
	FirstStrictViolation string `json:"firstStrictViolation,omitempty"`
	// WritesPerPod are the API write requests on the case's namespace per replaced pod, by
	// client (user agent); ControllerWritesPerPod is the rollout controller's.
	WritesPerPod           map[string]float64 `json:"writesPerPod"`
	ControllerWritesPerPod float64            `json:"controllerWritesPerPod"`
	// ControllerWrites counts the rollout controller's writes by verb and resource
	// ("patch replicasets", "update deployments/status"): where the two controllers differ.
	ControllerWrites map[string]int `json:"controllerWrites"`
	// CPUSeconds and PeakRSSMB are the rollout controller process's during the rollout;
	// APIServerCPUSeconds the API server's, which serves both controllers alike.
	CPUSeconds          float64 `json:"cpuSeconds"`
	PeakRSSMB           float64 `json:"peakRSSMiB"`
	APIServerCPUSeconds float64 `json:"apiServerCPUSeconds"`
	// ClusterCPUSeconds is every cluster process's CPU during the rollout, by name
	// (kube-controller-manager runs the ReplicaSet controller): where a slower run's time went.
	ClusterCPUSeconds map[string]float64 `json:"clusterCPUSeconds"`
}

// IdleResult is the controller with many idle Rollouts.
type IdleResult struct {
	Profile  string `json:"profile"`
	Rollouts int    `json:"rollouts"`
	// SetupSeconds is creating the Rollouts until each has one available pod.
	SetupSeconds float64 `json:"setupSeconds"`
	// ResyncSeconds is a restarted controller reconciling every Rollout once.
	ResyncSeconds float64 `json:"resyncSeconds"`
	RSSMB         float64 `json:"rssMiB"`
	PeakRSSMB     float64 `json:"peakRSSMiB"`
	// LiveHeapMB is the heap the controller's last garbage collection kept: the rest of
	// the RSS is mostly the collector's headroom (GOGC) and the runtime's own.
	LiveHeapMB float64 `json:"liveHeapMiB"`
	CPUSeconds float64 `json:"cpuSeconds"`
}

// Write writes results.json, results.md and completion.png to dir.
func (r *Report) Write(dir string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(r.Markdown()), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "completion.png"))
	if err != nil {
		return err
	}
	if err := r.Chart(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Markdown renders the report as tables: Deployment / Stepwise in each cell.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s at %s on %d CPUs (%s), matrix %q. Each cell: built-in Deployment controller / Stepwise.", r.Commit, r.Date, r.CPUs, r.GoVersion, r.Matrix)
	if r.Repeat > 1 {
		fmt.Fprintf(&b, " Each case ran %d times through each controller, in alternating order; figures are medians, and the ratio's range is that of the repetitions.", r.Repeat)
	}
	if r.Isolated {
		b.WriteString(" Only the controller under test ran during each run.")
	} else {
		b.WriteString(" Both controllers ran throughout.")
	}
	b.WriteString("\n\n")
	if len(r.Cases) > 0 {
		b.WriteString("| # | profile | case | completion s | ratio | lower bound s | ×bound | decision p50 ms | decision p99 ms | violations | pods over | controller writes/pod | CPU s | peak RSS MiB | API server CPU s |\n")
		b.WriteString("|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for i, c := range r.Cases {
			d, s := c.Deployment, c.Stepwise
			fmt.Fprintf(&b, "| %d | %s | %s | %s / %s | %s | %.0f | %s | %.1f / %.1f | %.1f / %.1f | %d / %d | %d / %d | %.2f / %.2f | %.2f / %.2f | %.0f / %.0f | %.1f / %.1f |\n",
				i+1, c.Profile, c.Case, completion(d), completion(s), ratioCell(c), c.LowerBoundSeconds, boundRatio(c),
				d.DecisionP50Ms, s.DecisionP50Ms, d.DecisionP99Ms, s.DecisionP99Ms, d.Violations, s.Violations, d.StrictViolations, s.StrictViolations,
				d.ControllerWritesPerPod, s.ControllerWritesPerPod, d.CPUSeconds, s.CPUSeconds, d.PeakRSSMB, s.PeakRSSMB, d.APIServerCPUSeconds, s.APIServerCPUSeconds)
		}
		b.WriteString("\nAPI writes per replaced pod by client (all clients, Deployment / Stepwise):\n\n")
		b.WriteString("| # | " + strings.Join(r.clients(), " | ") + " |\n|--:|" + strings.Repeat("--:|", len(r.clients())) + "\n")
		for i, c := range r.Cases {
			fmt.Fprintf(&b, "| %d |", i+1)
			for _, client := range r.clients() {
				fmt.Fprintf(&b, " %.2f / %.2f |", c.Deployment.WritesPerPod[client], c.Stepwise.WritesPerPod[client])
			}
			b.WriteString("\n")
		}
		r.comparedMarkdown(&b)
	}
	if len(r.Idle) > 0 {
		b.WriteString("\nIdle Rollouts of one replica each (Stepwise only):\n\n")
		b.WriteString("| profile | Rollouts | set-up s | full resync s | RSS MiB | peak RSS MiB | live heap MiB | CPU s (resync) |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, i := range r.Idle {
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.2f | %.0f | %.0f | %.0f | %.2f |\n", i.Profile, i.Rollouts, i.SetupSeconds, i.ResyncSeconds, i.RSSMB, i.PeakRSSMB, i.LiveHeapMB, i.CPUSeconds)
		}
	}
	return b.String()
}

// comparedMarkdown renders Stepwise's default against the compared podReplacementPolicy.
func (r *Report) comparedMarkdown(b *strings.Builder) {
	if r.ComparedPolicy == "" {
		return
	}
	fmt.Fprintf(b, "\nStepwise's default podReplacementPolicy against %s, run beside it: completion (default / %s), the default's time over %s's, and the states with more pods that exist and are not terminating than replicas + maxSurge (Deployment / default / %s):\n\n",
		r.ComparedPolicy, r.ComparedPolicy, r.ComparedPolicy, r.ComparedPolicy)
	b.WriteString("| # | profile | case | completion s | ratio | pods over | controller writes/pod |\n|--:|---|---|--:|--:|--:|--:|\n")
	for i, c := range r.Cases {
		if c.Compared == nil {
			continue
		}
		s, p := c.Stepwise, *c.Compared
		ratio := ratio(completionRatio(s, p))
		if lowest, highest := ratioRange(c.StepwiseRuns, c.ComparedRuns); lowest != 0 {
			ratio += fmt.Sprintf(" (%.2f–%.2f)", lowest, highest)
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s / %s | %s | %d / %d / %d | %.2f / %.2f |\n", i+1, c.Profile, c.Case, completion(s), completion(p), ratio,
			c.Deployment.StrictViolations, s.StrictViolations, p.StrictViolations, s.ControllerWritesPerPod, p.ControllerWritesPerPod)
	}
}

// clients are the API clients that wrote in any case, sorted.
func (r *Report) clients() []string {
	seen := map[string]bool{}
	for _, c := range r.Cases {
		for _, m := range []Measure{c.Deployment, c.Stepwise} {
			for client := range m.WritesPerPod {
				seen[client] = true
			}
		}
	}
	var out []string
	for client := range seen {
		out = append(out, client)
	}
	sort.Strings(out)
	return out
}

func completion(m Measure) string {
	if m.TimedOut {
		return "timeout"
	}
	return fmt.Sprintf("%.2f", m.CompletionSeconds)
}

// ratioCell is the completion ratio, with its range over the repetitions if any.
func ratioCell(c CaseResult) string {
	lowest, highest := c.RatioRange()
	if lowest == 0 {
		return ratio(c.Ratio())
	}
	return fmt.Sprintf("%s (%.2f–%.2f)", ratio(c.Ratio()), lowest, highest)
}

func ratio(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

func boundRatio(c CaseResult) string {
	if c.LowerBoundSeconds == 0 || c.Stepwise.TimedOut {
		return "–"
	}
	return fmt.Sprintf("%.2f", c.Stepwise.CompletionSeconds/c.LowerBoundSeconds)
}
