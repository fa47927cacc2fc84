package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/test/cluster"
	"github.com/stepwise-dev/stepwise/test/observe"
	"github.com/stepwise-dev/stepwise/test/testenv"
)

// Options configure a benchmark run.
type Options struct {
	// Out is the directory of results.json, results.md, completion.png and logs/ (the
	// controller's log per profile).
	Out string
	// Matrix names the cases (see Matrix).
	Matrix string
	// Only, when set, keeps the cases whose name it matches ("n=10 25%/25% ready=0s x1").
	Only *regexp.Regexp
	// Profiles run one after the other, each on a fresh cluster.
	Profiles []Profile
	// Repeat runs each case this many times through each controller (at least once), the
	// Deployment controller first in even repetitions and Stepwise first in odd ones, so
	// that neither always meets the cluster after the other; each figure is the median.
	Repeat int
	// Idle are the numbers of idle Rollouts whose full resync is measured, in the last profile.
	Idle []int
	// APIServerProfile, when positive, saves a CPU profile of the API server over this long
	// from each run's template change: logs/apiserver-<case>-<repetition>-<controller>.pprof.
	APIServerProfile time.Duration
	// QuietBelow, when positive, makes each run wait before its template change until the
	// machine's CPU was busy less than this fraction over a second (for at most two
	// minutes): what the run before left behind (its namespace's garbage, status writes
	// catching up) would otherwise be charged to whichever controller runs second.
	QuietBelow float64
	// Timeline, when set, saves every state the watcher saw from each run's template change:
	// logs/timeline-<case>-<repetition>-<controller>.csv.
	Timeline bool
	// Isolate runs only the controller under test during each run, the other one stopped.
	// The benchmark runs the Deployment controller in a kube-controller-manager process of
	// its own, whose informers watch every pod and ReplicaSet: left running beside Stepwise,
	// it charges Stepwise's runs for CPU and watch traffic that a real
	// kube-controller-manager, whose controllers share those informers, does not spend.
	Isolate bool
	// ComparePolicy, when set, runs each case a third time per repetition, through Stepwise
	// with Rollouts that set this podReplacementPolicy, beside the default's runs: what the
	// default costs against it (ReplicaSetSizes counts as a Deployment does).
	ComparePolicy stepwisev1alpha1.PodReplacementPolicy
	// Log receives progress lines.
	Log io.Writer
}

// stepwiseClient is the user agent of the controller binary the benchmark builds.
const stepwiseClient = "stepwise-controller"

// clientOf names the API client of a request from its user agent: the binary, or for
// kube-controller-manager the controller ("deployment-controller", "replicaset-controller").
func clientOf(userAgent string) string {
	binary, _, _ := strings.Cut(userAgent, "/")
	if binary == "kube-controller-manager" {
		return userAgent[strings.LastIndexByte(userAgent, '/')+1:]
	}
	return binary
}

// Run runs every profile and writes the report to opts.Out.
func Run(ctx context.Context, opts Options) (*Report, error) {
	cases, err := Matrix(opts.Matrix)
	if err != nil {
		return nil, err
	}
	if opts.Only != nil {
		cases = slices.DeleteFunc(cases, func(c Case) bool { return !opts.Only.MatchString(c.String()) })
	}
	if err := os.MkdirAll(filepath.Join(opts.Out, "logs"), 0o755); err != nil {
		return nil, err
	}
	report := &Report{Date: time.Now().UTC().Format(time.RFC3339), Matrix: opts.Matrix, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Commit: commit(),
		Repeat: max(opts.Repeat, 1), Isolated: opts.Isolate, ComparedPolicy: opts.ComparePolicy}
	binDir, err := os.MkdirTemp("", "stepwise-bench-bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	bin := filepath.Join(binDir, stepwiseClient)
	if err := testenv.Build(ctx, bin, "./cmd/manager"); err != nil {
		return nil, err
	}
	for i, profile := range opts.Profiles {
		idle := []int(nil)
		if i == len(opts.Profiles)-1 {
			idle = opts.Idle
		}
		if err := runProfile(ctx, opts, bin, profile, cases, idle, report); err != nil {
			// What was measured before the failure is kept.
			return report, errors.Join(fmt.Errorf("profile %s: %w", profile.Name, err), report.Write(opts.Out))
		}
	}
	return report, report.Write(opts.Out)
}

func runProfile(ctx context.Context, opts Options, bin string, profile Profile, cases []Case, idle []int, report *Report) error {
	dir, err := os.MkdirTemp("", "stepwise-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := cluster.Start(ctx, cluster.Options{
		Dir: dir, ControllerManagerQPS: profile.QPS, ControllerManagerBurst: profile.Burst,
		AuditWrites: true, SeparateDeploymentController: true,
	})
	if err != nil {
		return err
	}
	defer c.Stop()
	root, err := cluster.RepoRoot()
	if err != nil {
		return err
	}
	if err := c.InstallCRDs(ctx, filepath.Join(root, "config", "crd")); err != nil {
		return err
	}
	r, err := newRunner(opts, c, bin, profile)
	if err != nil {
		return err
	}
	defer r.stopStepwise()
	for i, cs := range cases {
		result := CaseResult{
			Profile: profile.Name, Case: cs.String(), Replicas: cs.Replicas, Concurrent: cs.Concurrent,
			Strategy: cs.Strategy(), ReadyDelaySeconds: cs.ReadyDelay.Seconds(), LowerBoundSeconds: cs.LowerBound().Seconds(),
		}
		runs := map[Controller][]Measure{}
		for rep := range max(opts.Repeat, 1) {
			for _, ctrl := range runOrder(rep, opts.ComparePolicy) {
				m, err := r.runCase(ctx, ctrl, i, rep, cs)
				if err != nil {
					return fmt.Errorf("%s through %s: %w", cs, ctrl, err)
				}
				r.logf("%-8s %-34s %-10s %7.2fs  decisions p50 %6.1fms p99 %6.1fms  violations %d  writes/pod %.2f  cpu %.2fs  rss %.0fMiB  apiserver cpu %.1fs%s",
					profile.Name, cs, ctrl, m.CompletionSeconds, m.DecisionP50Ms, m.DecisionP99Ms, m.Violations, m.ControllerWritesPerPod, m.CPUSeconds, m.PeakRSSMB, m.APIServerCPUSeconds, timedOut(m))
				r.logf("%-8s %-34s %-10s writes %v", profile.Name, cs, ctrl, m.ControllerWrites)
				r.logf("%-8s %-34s %-10s cluster cpu %v", profile.Name, cs, ctrl, m.ClusterCPUSeconds)
				runs[ctrl] = append(runs[ctrl], m)
			}
		}
		result.Deployment, result.Stepwise = median(runs[Deployment]), median(runs[Stepwise])
		if len(runs[Stepwise]) > 1 {
			result.DeploymentRuns, result.StepwiseRuns = runs[Deployment], runs[Stepwise]
		}
		if compared := runs[StepwiseWith(opts.ComparePolicy)]; opts.ComparePolicy != "" {
			result.Compared = ptr.To(median(compared))
			if len(compared) > 1 {
				result.ComparedRuns = compared
			}
		}
		report.Cases = append(report.Cases, result)
	}
	for _, n := range idle {
		res, err := r.idle(ctx, n)
		if err != nil {
			return fmt.Errorf("%d idle Rollouts: %w", n, err)
		}
		res.Profile = profile.Name
		r.logf("%-8s %d idle Rollouts: set up in %.0fs, full resync %.2fs, RSS %.0fMiB (peak %.0fMiB), cpu %.2fs",
			profile.Name, n, res.SetupSeconds, res.ResyncSeconds, res.RSSMB, res.PeakRSSMB, res.CPUSeconds)
		report.Idle = append(report.Idle, res)
	}
	return nil
}

func timedOut(m Measure) string {
	if m.TimedOut {
		return "  TIMED OUT"
	}
	return ""
}

// runner runs cases on one cluster.
type runner struct {
	opts    Options
	profile Profile
	cluster *cluster.Cluster
	kube    kubernetes.Interface
	client  client.Client
	bin     string
	// The Stepwise controller process and its plain-HTTP metrics endpoint.
	stepwise   *exec.Cmd
	metricsURL string
	pprofURL   string
}

func newRunner(opts Options, c *cluster.Cluster, bin string, profile Profile) (*runner, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst, cfg.UserAgent = 1000, 2000, "stepwise-bench"
	s := scheme.Scheme
	if err := stepwisev1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	cl, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &runner{opts: opts, profile: profile, cluster: c, kube: kube, client: cl, bin: bin}, nil
}

func (r *runner) logf(format string, args ...any) {
	if r.opts.Log != nil {
		fmt.Fprintf(r.opts.Log, format+"\n", args...)
	}
}

// startStepwise starts the controller with the profile's rate limit, a metrics endpoint and
// pprof (logged, to profile a case by hand).
func (r *runner) startStepwise() error {
	ports, err := cluster.FreePorts(2)
	if err != nil {
		return err
	}
	addr, pprofAddr := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	r.metricsURL, r.pprofURL = "http://"+addr+"/metrics", "http://"+pprofAddr+"/debug/pprof/"
	r.logf("stepwise-controller: metrics at %s, pprof at %s", r.metricsURL, r.pprofURL)
	logFile, err := os.OpenFile(filepath.Join(r.opts.Out, "logs", "stepwise-"+r.profile.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(r.bin, fmt.Sprintf("--kube-api-qps=%d", r.profile.QPS), fmt.Sprintf("--kube-api-burst=%d", r.profile.Burst),
		"--metrics-bind-address="+addr, "--metrics-secure=false", "--pprof-bind-address="+pprofAddr, "--health-probe-bind-address=0")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+r.cluster.Kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the controller: %w", err)
	}
	r.stepwise = cmd
	return nil
}

// stopStepwise stops the controller if it runs.
func (r *runner) stopStepwise() {
	if r.stepwise == nil {
		return
	}
	_ = r.stepwise.Process.Kill()
	_ = r.stepwise.Wait()
	r.stepwise = nil
}

// prepare makes ctrl run, starting it if it is stopped, and with Options.Isolate stops the
// other controller first. Before it is measured a controller creates its workloads'
// ReplicaSets and waits for their pods, so a restarted one has synced its caches by the
// template change.
func (r *runner) prepare(ctrl Controller) error {
	if ctrl != Deployment {
		if r.opts.Isolate {
			if err := r.cluster.StopComponent(cluster.DeploymentControllerProcess); err != nil {
				return err
			}
		}
		if r.stepwise == nil {
			return r.startStepwise()
		}
		return nil
	}
	if r.opts.Isolate {
		r.stopStepwise()
	}
	if r.cluster.PID(cluster.DeploymentControllerProcess) == 0 {
		return r.cluster.StartComponent(cluster.DeploymentControllerProcess)
	}
	return nil
}

func (r *runner) pid(ctrl Controller) int {
	if ctrl == Deployment {
		return r.cluster.PID(cluster.DeploymentControllerProcess)
	}
	return r.stepwise.Process.Pid
}

// runOrder is the order of the controllers in repetition rep: the Deployment controller,
// Stepwise, then Stepwise with the compared policy if any, reversed in odd repetitions, so
// that over an even number each of any two runs first equally often.
func runOrder(rep int, compare stepwisev1alpha1.PodReplacementPolicy) []Controller {
	order := []Controller{Deployment, Stepwise}
	if compare != "" {
		order = append(order, StepwiseWith(compare))
	}
	if rep%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// caseTimeout bounds a phase of case c: generous, so that a slow machine reports slow
// figures rather than no figures. Each pod gets the longer of four of the ReplicaSet
// controller's writes at its QPS (it creates, deletes and reports each pod) and 100 ms, more
// than a saturated machine takes with 100 concurrent rollouts (docs/performance.md).
func (r *runner) caseTimeout(c Case) time.Duration {
	perPod := max(4*time.Second/time.Duration(r.profile.QPS), 100*time.Millisecond)
	return 3*time.Minute + 10*c.LowerBound() + time.Duration(int(c.Replicas)*c.Concurrent)*perPod
}

// runCase rolls c out through ctrl in a namespace of its own and measures it.
func (r *runner) runCase(ctx context.Context, ctrl Controller, index, rep int, c Case) (Measure, error) {
	if err := r.prepare(ctrl); err != nil {
		return Measure{}, err
	}
	ns := fmt.Sprintf("bench-%d-%d-%s", index, rep, ctrl)
	if err := r.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return Measure{}, err
	}
	defer func() {
		if err := r.deleteNamespace(context.WithoutCancel(ctx), ns); err != nil {
			r.logf("cleaning up %s: %v", ns, err)
		}
	}()
	w, err := startWatcher(r.kube, ns)
	if err != nil {
		return Measure{}, err
	}
	defer w.stop()
	w.keepTimeline = r.opts.Timeline
	names := make([]string, c.Concurrent)
	for i := range names {
		names[i] = fmt.Sprintf("r%03d", i)
		if err := r.client.Create(ctx, workload(ctrl, ns, names[i], c)); err != nil {
			return Measure{}, err
		}
	}
	timeout := r.caseTimeout(c)
	if err := waitFor(ctx, timeout, func() bool { return w.settled(names, c.Replicas) }); err != nil {
		return Measure{}, fmt.Errorf("waiting for %d ready pods of %s: %w", c.Replicas, oldImage, err)
	}

	if r.opts.QuietBelow > 0 {
		quietAfter, err := waitQuiet(ctx, r.opts.QuietBelow, quietTimeout)
		if err != nil {
			return Measure{}, err
		}
		r.logf("%-8s %-34s %-10s quiet after %.1fs", r.profile.Name, c, ctrl, quietAfter.Seconds())
	}
	use, err := startUsage(r.pid(ctrl))
	if err != nil {
		return Measure{}, err
	}
	clusterCPU, err := r.clusterCPU()
	if err != nil {
		return Measure{}, err
	}
	auditFrom, err := fileSize(r.cluster.AuditLogPath())
	if err != nil {
		return Measure{}, err
	}
	if r.opts.APIServerProfile > 0 {
		profiled := r.profileAPIServer(ctx, fmt.Sprintf("apiserver-%d-%d-%s.pprof", index, rep, ctrl))
		defer func() {
			if err := <-profiled; err != nil {
				r.logf("profiling the API server: %v", err)
			}
		}()
	}
	surge, unavailable := c.Bounds()
	// Pods counted up to their ReplicaSet's size, for both controllers alike (see Measure.Violations).
	bounds := observe.Bounds{MaxReplicas: c.Replicas + surge, MinAvailable: c.Replicas - unavailable, UpToDesired: true}
	for _, name := range names {
		w.arm(name, bounds, c.Replicas, newImage)
		obj := empty(ctrl)
		obj.SetNamespace(ns)
		obj.SetName(name)
		if err := r.client.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, changeImage)); err != nil {
			return Measure{}, err
		}
	}
	var m Measure
	if err := waitFor(ctx, timeout, func() bool { return w.complete(names) }); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			return Measure{}, err
		}
		m.TimedOut = true
	} else if err := r.waitReported(ctx, ctrl, ns, names, c.Replicas); err != nil {
		return Measure{}, err
	}
	if m.CPUSeconds, m.PeakRSSMB, err = use.end(); err != nil {
		return Measure{}, err
	}
	clusterCPUEnd, err := r.clusterCPU()
	if err != nil {
		return Measure{}, err
	}
	m.ClusterCPUSeconds = map[string]float64{}
	for name, end := range clusterCPUEnd {
		m.ClusterCPUSeconds[name] = end - clusterCPU[name]
	}
	m.APIServerCPUSeconds = m.ClusterCPUSeconds["kube-apiserver"]
	out := w.outcome(names)
	if r.opts.Timeline {
		if err := w.writeTimeline(filepath.Join(r.opts.Out, "logs", fmt.Sprintf("timeline-%d-%d-%s.csv", index, rep, ctrl)), names); err != nil {
			return Measure{}, err
		}
	}
	if !m.TimedOut {
		m.CompletionSeconds = out.last.Sub(out.first).Seconds()
	}
	m.Decisions = len(out.decisions)
	m.DecisionP50Ms, m.DecisionP99Ms = percentileMs(out.decisions, 50), percentileMs(out.decisions, 99)
	m.Violations = len(out.violations)
	if len(out.violations) > 0 {
		m.FirstViolation = out.violations[0]
	}
	m.StrictViolations = len(out.strictViolations)
	if len(out.strictViolations) > 0 {
		m.FirstStrictViolation = out.strictViolations[0]
	}
	replaced := float64(int(c.Replicas) * c.Concurrent)
	var writes map[string]int
	writes, m.ControllerWrites, err = r.writesByClient(auditFrom, ns, ctrl.client())
	if err != nil {
		return Measure{}, err
	}
	m.WritesPerPod = map[string]float64{}
	for client, n := range writes {
		m.WritesPerPod[client] = float64(n) / replaced
	}
	m.ControllerWritesPerPod = m.WritesPerPod[ctrl.client()]
	return m, nil
}

// waitReported waits until every workload's own status reports the rollout done, so that
// the controllers' last status writes are in the audit log before it is read.
func (r *runner) waitReported(ctx context.Context, ctrl Controller, ns string, names []string, replicas int32) error {
	return waitFor(ctx, time.Minute, func() bool {
		for _, name := range names {
			obj := empty(ctrl)
			if err := r.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
				return false
			}
			if done, err := reportsComplete(obj, replicas); err != nil || !done {
				return false
			}
		}
		return true
	})
}

// writesByClient counts the write requests on namespace ns in the audit log after offset,
// by client, and those of client controller by verb and resource.
func (r *runner) writesByClient(offset int64, ns, controller string) (byClient, byRequest map[string]int, err error) {
	byClient, byRequest = map[string]int{}, map[string]int{}
	_, err = r.cluster.ReadAuditLog(offset, func(ev *cluster.AuditEvent) {
		if ev.ObjectRef == nil || ev.ObjectRef.Namespace != ns {
			return
		}
		client := clientOf(ev.UserAgent)
		byClient[client]++
		if client == controller {
			resource := ev.ObjectRef.Resource
			if ev.ObjectRef.Subresource != "" {
				resource += "/" + ev.ObjectRef.Subresource
			}
			request := ev.Verb + " " + resource
			if ev.ResponseStatus != nil && ev.ResponseStatus.Code >= 300 {
				request += fmt.Sprintf(" (%d)", ev.ResponseStatus.Code)
			}
			byRequest[request]++
		}
	})
	return byClient, byRequest, err
}

// deleteNamespace removes a case's objects quickly (pods without grace: the controllers are
// done with them) and waits until the namespace is gone, so that the next run starts on a
// machine with nothing left to delete. A deletion that fails (a big case's pods can outlast
// the API server's request timeout) leaves the rest to the namespace's deletion, still waited
// for.
func (r *runner) deleteNamespace(ctx context.Context, ns string) error {
	background := client.PropagationPolicy(metav1.DeletePropagationBackground)
	var errs []error
	for _, obj := range []client.Object{&appsv1.Deployment{}, &stepwisev1alpha1.Rollout{}, &appsv1.ReplicaSet{}} {
		errs = append(errs, r.client.DeleteAllOf(ctx, obj, client.InNamespace(ns), background))
	}
	errs = append(errs, r.client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.GracePeriodSeconds(0)))
	if err := r.client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return errors.Join(append(errs, err)...)
	}
	errs = append(errs, waitFor(ctx, 10*time.Minute, func() bool {
		err := r.client.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})
		return apierrors.IsNotFound(err)
	}))
	return errors.Join(errs...)
}

// clusterCPU returns the CPU seconds each cluster process has used.
func (r *runner) clusterCPU() (map[string]float64, error) {
	used := map[string]float64{}
	for name, pid := range r.cluster.Processes() {
		cpu, err := cpuSeconds(pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		used[name] = cpu
	}
	return used, nil
}

// profileAPIServer saves a CPU profile of the API server over opts.APIServerProfile to
// logs/file, in the background; the channel reports the outcome.
func (r *runner) profileAPIServer(ctx context.Context, file string) <-chan error {
	done := make(chan error, 1)
	go func() {
		data, err := r.kube.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", strconv.Itoa(int(r.opts.APIServerProfile.Seconds()))).
			Timeout(r.opts.APIServerProfile + time.Minute).DoRaw(ctx)
		if err == nil {
			err = os.WriteFile(filepath.Join(r.opts.Out, "logs", file), data, 0o644)
		}
		done <- err
	}()
	return done
}

// How long waitQuiet measures the machine's CPU at a time, and gives up after.
const (
	quietWindow  = time.Second
	quietTimeout = 2 * time.Minute
)

// waitQuiet waits until the machine's CPU has been busy less than the fraction below over a
// quietWindow, and returns how long that took; after timeout it gives up and returns the
// timeout.
func waitQuiet(ctx context.Context, below float64, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	busy, total, err := machineBusy()
	if err != nil {
		return 0, err
	}
	for time.Since(start) < timeout {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(quietWindow):
		}
		nowBusy, nowTotal, err := machineBusy()
		if err != nil {
			return 0, err
		}
		if nowTotal > total && (nowBusy-busy)/(nowTotal-total) < below {
			return time.Since(start), nil
		}
		busy, total = nowBusy, nowTotal
	}
	return timeout, nil
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
}

func fileSize(path string) (int64, error) {
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// percentileMs is the p-th percentile (nearest rank) of ds in milliseconds, 0 for none.
func percentileMs(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := (p*len(sorted) + 99) / 100
	return float64(sorted[max(rank, 1)-1].Microseconds()) / 1000
}

func commit() string {
	root, err := cluster.RepoRoot()
	if err != nil {
		return ""
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
