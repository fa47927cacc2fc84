package analysis

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// Default limits and timeouts, as the API documents them.
const (
	DefaultConsecutiveErrorLimit = 4
	DefaultTimeout               = 10 * time.Second
)

// ParseDuration reads an API duration; absent is 0.
func ParseDuration(d *stepwisev1alpha1.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	return time.ParseDuration(string(*d))
}

// measurementsWanted is how many measurements a metric takes, 0 meaning until the run is
// stopped: count when set and non-zero; otherwise one without an interval, unlimited with one.
func measurementsWanted(m *stepwisev1alpha1.Metric) int32 {
	switch {
	case m.Count != nil && *m.Count > 0:
		return *m.Count
	case m.Interval != nil:
		return 0
	}
	return 1
}

func limit(v *int32, def int32) int32 {
	if v == nil {
		return def
	}
	return *v
}

// MetricPhase is where a metric stands after the measurements its result records: Failed
// past failureLimit, Inconclusive past inconclusiveLimit, Error past consecutiveErrorLimit,
// Successful once every wanted measurement is taken, else Running. An error is no measurement:
// count wants that many values judged.
func MetricPhase(m *stepwisev1alpha1.Metric, r *stepwisev1alpha1.MetricResult) stepwisev1alpha1.AnalysisPhase {
	switch wanted := measurementsWanted(m); {
	case r.Failed > limit(m.FailureLimit, 0):
		return stepwisev1alpha1.AnalysisPhaseFailed
	case r.Inconclusive > limit(m.InconclusiveLimit, 0):
		return stepwisev1alpha1.AnalysisPhaseInconclusive
	case r.ConsecutiveError > limit(m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit):
		return stepwisev1alpha1.AnalysisPhaseError
	case wanted > 0 && r.Successful+r.Failed+r.Inconclusive >= wanted:
		return stepwisev1alpha1.AnalysisPhaseSuccessful
	}
	return stepwisev1alpha1.AnalysisPhaseRunning
}

// InProgress is the metric's measurement still running (a Job), or nil.
func InProgress(r *stepwisev1alpha1.MetricResult) *stepwisev1alpha1.Measurement {
	if n := len(r.Measurements); n > 0 && r.Measurements[n-1].Phase == stepwisev1alpha1.AnalysisPhaseRunning {
		return &r.Measurements[n-1]
	}
	return nil
}

// NextDue says whether metric m takes a measurement now and, if not, how long until it does
// (0: not on a timer, because it is done or waits for a running measurement). The first
// measurement comes initialDelay after the run started, each next one an interval after the
// previous one finished, so a restarted controller neither repeats nor skips one.
func NextDue(m *stepwisev1alpha1.Metric, r *stepwisev1alpha1.MetricResult, started, now time.Time) (bool, time.Duration, error) {
	if r.Phase.Completed() || InProgress(r) != nil {
		return false, 0, nil
	}
	at := started
	if n := len(r.Measurements); n == 0 {
		delay, err := ParseDuration(m.InitialDelay)
		if err != nil {
			return false, 0, fmt.Errorf("metric %q: initialDelay: %w", m.Name, err)
		}
		at = at.Add(delay)
	} else {
		interval, err := ParseDuration(m.Interval)
		if err != nil {
			return false, 0, fmt.Errorf("metric %q: interval: %w", m.Name, err)
		}
		last := r.Measurements[n-1]
		if last.FinishedAt != nil {
			at = last.FinishedAt.Add(interval)
		}
	}
	if wait := at.Sub(now); wait > 0 {
		return false, wait, nil
	}
	return true, 0, nil
}

// Start records a measurement that goes on after this reconcile (a Job).
func Start(r *stepwisev1alpha1.MetricResult, jobName string, now time.Time) {
	r.Measurements = append(r.Measurements, stepwisev1alpha1.Measurement{
		Phase: stepwisev1alpha1.AnalysisPhaseRunning, JobName: jobName, StartedAt: Timestamp(now)})
	trim(r)
}

// Record adds a finished measurement (or finishes the running one) to the metric's result,
// counts it and sets the metric's phase.
func Record(m *stepwisev1alpha1.Metric, r *stepwisev1alpha1.MetricResult, done stepwisev1alpha1.Measurement, now time.Time) {
	done.FinishedAt = Timestamp(now)
	if running := InProgress(r); running != nil {
		done.StartedAt, done.JobName = running.StartedAt, running.JobName
		*running = done
	} else {
		if done.StartedAt == nil {
			done.StartedAt = done.FinishedAt
		}
		r.Measurements = append(r.Measurements, done)
		trim(r)
	}
	r.Count++
	switch done.Phase {
	case stepwisev1alpha1.AnalysisPhaseSuccessful:
		r.Successful++
	case stepwisev1alpha1.AnalysisPhaseFailed:
		r.Failed++
	case stepwisev1alpha1.AnalysisPhaseInconclusive:
		r.Inconclusive++
	case stepwisev1alpha1.AnalysisPhaseError:
		r.Error++
		r.ConsecutiveError++
	}
	if done.Phase != stepwisev1alpha1.AnalysisPhaseError {
		r.ConsecutiveError = 0
	}
	r.Phase = MetricPhase(m, r)
	r.Message = ""
	if r.Phase.Completed() && r.Phase != stepwisev1alpha1.AnalysisPhaseSuccessful {
		r.Message = describe(done)
	}
}

// describe names a measurement's value or error, for messages.
func describe(ms stepwisev1alpha1.Measurement) string {
	if ms.Phase == stepwisev1alpha1.AnalysisPhaseError || ms.Value == "" {
		return fmt.Sprintf("measurement %s: %s", ms.Phase, ms.Message)
	}
	return "measured " + ms.Value
}

// trim drops the oldest measurements beyond MaxMeasurements, so a run never grows without
// bound.
func trim(r *stepwisev1alpha1.MetricResult) {
	if extra := len(r.Measurements) - stepwisev1alpha1.MaxMeasurements; extra > 0 {
		r.Measurements = append(r.Measurements[:0:0], r.Measurements[extra:]...)
	}
}

// Result is the metric's result in st, added (Pending) when absent.
func Result(st *stepwisev1alpha1.AnalysisRunStatus, name string) *stepwisev1alpha1.MetricResult {
	for i := range st.MetricResults {
		if st.MetricResults[i].Name == name {
			return &st.MetricResults[i]
		}
	}
	st.MetricResults = append(st.MetricResults, stepwisev1alpha1.MetricResult{Name: name, Phase: stepwisev1alpha1.AnalysisPhasePending})
	return &st.MetricResults[len(st.MetricResults)-1]
}

// Conclude sets the run's phase, message and summary from its metrics: Failed as soon as one
// metric fails, then Error, then Inconclusive, Successful when every metric is; a run told to
// terminate ends Successful unless one of those already decided it.
func Conclude(run *stepwisev1alpha1.AnalysisRun) {
	st := &run.Status
	switch {
	case st.Phase.Completed():
		return
	case run.Spec.Invalid != "":
		st.Phase, st.Message, st.Summary = stepwisev1alpha1.AnalysisPhaseError, run.Spec.Invalid, "0/0"
		return
	case len(run.Spec.Metrics) == 0:
		st.Phase, st.Message, st.Summary = stepwisev1alpha1.AnalysisPhaseError, "the analysis has no metrics", "0/0"
		return
	}
	var passed, failed int
	worst := map[stepwisev1alpha1.AnalysisPhase]*stepwisev1alpha1.MetricResult{}
	for i := range run.Spec.Metrics {
		r := Result(st, run.Spec.Metrics[i].Name)
		switch r.Phase {
		case stepwisev1alpha1.AnalysisPhaseSuccessful:
			passed++
		case stepwisev1alpha1.AnalysisPhaseFailed:
			failed++
		}
		if worst[r.Phase] == nil {
			worst[r.Phase] = r
		}
	}
	st.Summary = fmt.Sprintf("%d/%d", passed, failed)
	for _, phase := range []stepwisev1alpha1.AnalysisPhase{stepwisev1alpha1.AnalysisPhaseFailed, stepwisev1alpha1.AnalysisPhaseError, stepwisev1alpha1.AnalysisPhaseInconclusive} {
		if r := worst[phase]; r != nil {
			st.Phase, st.Message = phase, fmt.Sprintf("metric %q %s: %s", r.Name, phase, r.Message)
			return
		}
	}
	switch {
	case passed == len(run.Spec.Metrics):
		st.Phase, st.Message = stepwisev1alpha1.AnalysisPhaseSuccessful, fmt.Sprintf("all %d metrics passed", passed)
	case run.Spec.Terminate && run.Spec.Skip:
		st.Phase, st.Message = stepwisev1alpha1.AnalysisPhaseSkipped, run.Spec.TerminateReason
		for i := range st.MetricResults {
			if !st.MetricResults[i].Phase.Completed() {
				st.MetricResults[i].Phase = stepwisev1alpha1.AnalysisPhaseSkipped
			}
		}
	case run.Spec.Terminate:
		st.Phase, st.Message = stepwisev1alpha1.AnalysisPhaseSuccessful, "terminated: "+run.Spec.TerminateReason
	default:
		st.Phase = stepwisev1alpha1.AnalysisPhaseRunning
	}
}

// Timestamp is t as a measurement keeps it, to the microsecond: an interval measured from the
// kept time is the interval asked for.
func Timestamp(t time.Time) *metav1.MicroTime {
	mt := metav1.NewMicroTime(t)
	return &mt
}
