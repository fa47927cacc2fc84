// Package analysisrun holds the AnalysisRun reconciler: it takes each metric's measurements
// when they are due (on RequeueAfter timers), judges them with the pure analysis package and
// patches the run's status once per reconcile.
package analysisrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/analysis"
	"github.com/stepwise-dev/stepwise/internal/planner"
)

// maxValue bounds a measurement's recorded value, so a large JSON answer cannot grow the run.
const maxValue = 512

// Reconciler takes the measurements of AnalysisRuns.
type Reconciler struct {
	client.Client
	// APIReader reads past the cache: a Job the cache does not show yet.
	APIReader client.Reader
	Clock     clock.PassiveClock
	// HTTP makes the web and prometheus measurements; each request has its metric's timeout.
	HTTP *http.Client
}

// NewReconciler returns a Reconciler wired to the manager.
func NewReconciler(mgr ctrl.Manager) *Reconciler {
	return &Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: clock.RealClock{}, HTTP: &http.Client{}}
}

// JobCacheOptions keeps the cache of Jobs to the AnalysisRuns' own.
func JobCacheOptions() cache.ByObject {
	return cache.ByObject{Transform: trimForeignJob}
}

// SetupWithManager registers the reconciler; measurements wait on the network, so several
// runs are measured at once.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("analysisrun").
		For(&stepwisev1alpha1.AnalysisRun{}).
		Owns(&batchv1.Job{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// +kubebuilder:rbac:groups=stepwise.dev,resources=analysisruns,verbs=list;watch
// +kubebuilder:rbac:groups=stepwise.dev,resources=analysisruns/status,verbs=patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete

// Reconcile takes the run's due measurements, concludes it when its metrics decide it, and
// comes back when the next measurement is due (a Job's end wakes it through the Job watch).
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	run := &stepwisev1alpha1.AnalysisRun{}
	if err := r.Get(ctx, req.NamespacedName, run); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !run.DeletionTimestamp.IsZero() || run.Status.Phase.Completed() {
		return ctrl.Result{}, nil
	}
	before := run.DeepCopy()
	now := r.Clock.Now()
	if run.Status.StartedAt == nil {
		run.Status.StartedAt = analysis.Timestamp(now)
		run.Status.Phase = stepwisev1alpha1.AnalysisPhaseRunning
	}
	var next time.Duration
	for i := range run.Spec.Metrics {
		wait, err := r.advance(ctx, run, &run.Spec.Metrics[i], now)
		if err != nil {
			return ctrl.Result{}, err
		}
		next = planner.Earliest(next, wait)
	}
	analysis.Conclude(run)
	if run.Status.Phase.Completed() {
		next = 0
		if err := r.stopMeasurements(ctx, run); err != nil {
			return ctrl.Result{}, err
		}
		ctrl.LoggerFrom(ctx).V(1).Info("Analysis ended", "phase", run.Status.Phase, "message", run.Status.Message)
	}
	if err := r.patchStatus(ctx, before, run); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// advance finishes the metric's running measurement when its Job has ended and takes the next
// one when it is due; it returns how long until the next one is (0: none on a timer).
func (r *Reconciler) advance(ctx context.Context, run *stepwisev1alpha1.AnalysisRun, m *stepwisev1alpha1.Metric, now time.Time) (time.Duration, error) {
	res := analysis.Result(&run.Status, m.Name)
	if res.Phase == stepwisev1alpha1.AnalysisPhasePending {
		res.Phase = stepwisev1alpha1.AnalysisPhaseRunning
	}
	if run.Spec.Terminate {
		return 0, nil
	}
	if running := analysis.InProgress(res); running != nil && running.JobName != "" {
		phase, message, err := r.jobOutcome(ctx, run.Namespace, running.JobName)
		if err != nil || phase == "" {
			return 0, err
		}
		analysis.Record(m, res, stepwisev1alpha1.Measurement{Phase: phase, Message: message}, now)
	}
	due, wait, err := analysis.NextDue(m, res, run.Status.StartedAt.Time, now)
	if err != nil || !due {
		return wait, err
	}
	if err := r.measure(ctx, run, m, res, now); err != nil {
		return 0, err
	}
	_, wait, err = analysis.NextDue(m, res, run.Status.StartedAt.Time, r.Clock.Now())
	return wait, err
}

// measure takes one measurement: it starts a Job, or asks Prometheus or the web endpoint and
// judges the answer. A provider's failure (unreachable, timeout, non-2xx, bad JSON, no data)
// is a measurement error, counted against consecutiveErrorLimit, not a failure.
func (r *Reconciler) measure(ctx context.Context, run *stepwisev1alpha1.AnalysisRun, m *stepwisev1alpha1.Metric, res *stepwisev1alpha1.MetricResult, now time.Time) error {
	var result any
	var err error
	switch p := m.Provider; {
	case p.Job != nil:
		name := jobName(run, m.Name, res.Count+1)
		err = r.startJob(ctx, run, p.Job, name)
		var refused *jobRefused
		switch {
		case errors.As(err, &refused): // recorded below as a measurement error
		case err != nil:
			return err
		default:
			return r.startedJob(ctx, run, res, name, now)
		}
	case p.Prometheus != nil:
		result, err = measurePrometheus(ctx, r.HTTP, p.Prometheus)
	case p.Web != nil:
		result, err = measureWeb(ctx, r.HTTP, p.Web)
	default:
		err = fmt.Errorf("metric %q has no provider", m.Name)
	}
	ms := stepwisev1alpha1.Measurement{StartedAt: analysis.Timestamp(now)}
	if err == nil {
		ms.Value = encode(result)
		ms.Phase, err = judge(m, result)
	}
	if err != nil {
		ms.Phase, ms.Message = stepwisev1alpha1.AnalysisPhaseError, err.Error()
	}
	ctrl.LoggerFrom(ctx).V(2).Info("Measured", "metric", m.Name, "phase", ms.Phase, "value", ms.Value, "message", ms.Message)
	analysis.Record(m, res, ms, r.Clock.Now())
	return nil
}

// startedJob records a measurement's Job and deletes the Jobs of measurements the result no
// longer keeps, so that a metric measured for hours leaves at most its last measurements'
// Jobs behind.
func (r *Reconciler) startedJob(ctx context.Context, run *stepwisev1alpha1.AnalysisRun, res *stepwisev1alpha1.MetricResult, name string, now time.Time) error {
	kept := map[string]bool{}
	before := slices.Clone(res.Measurements)
	analysis.Start(res, name, now)
	for _, ms := range res.Measurements {
		kept[ms.JobName] = true
	}
	for _, ms := range before {
		if ms.JobName != "" && !kept[ms.JobName] {
			// A retried reconcile finds the new Job started (AlreadyExists) and gets here again.
			if err := r.deleteJob(ctx, run.Namespace, ms.JobName); err != nil {
				return err
			}
		}
	}
	return nil
}

func judge(m *stepwisev1alpha1.Metric, result any) (stepwisev1alpha1.AnalysisPhase, error) {
	conditions, err := analysis.Compile(m)
	if err != nil {
		return "", err
	}
	return conditions.Judge(result)
}

func encode(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(raw) > maxValue {
		return string(raw[:maxValue]) + "…"
	}
	return string(raw)
}

// stopMeasurements deletes the Jobs of measurements a concluded run no longer waits for, and
// drops those measurements: they never finished.
func (r *Reconciler) stopMeasurements(ctx context.Context, run *stepwisev1alpha1.AnalysisRun) error {
	for i := range run.Status.MetricResults {
		res := &run.Status.MetricResults[i]
		running := analysis.InProgress(res)
		if running == nil {
			continue
		}
		if running.JobName != "" {
			if err := r.deleteJob(ctx, run.Namespace, running.JobName); err != nil {
				return err
			}
		}
		res.Measurements = slices.Delete(res.Measurements, len(res.Measurements)-1, len(res.Measurements))
	}
	return nil
}

// patchStatus writes the status once, only when it changed, conditional on the version it was
// computed from: a run measured from a stale copy must not overwrite newer measurements.
func (r *Reconciler) patchStatus(ctx context.Context, before, run *stepwisev1alpha1.AnalysisRun) error {
	if equality.Semantic.DeepEqual(before.Status, run.Status) {
		return nil
	}
	err := r.Status().Patch(ctx, run, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patching AnalysisRun status: %w", err)
	}
	return nil
}
