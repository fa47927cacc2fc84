package v1alpha1

import (
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnalysisTemplateSpec is what an analysis measures: its arguments and metrics.
type AnalysisTemplateSpec struct {
	// Arguments the metrics refer to as {{args.NAME}}. A Rollout's analysis may give or
	// override their values; an argument left without a value makes the run fail to start.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Args []Argument `json:"args,omitempty"`

	// The measurements to take. The run succeeds when every metric does, and fails as soon
	// as one fails.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Metrics []Metric `json:"metrics"`
}

// Argument is a named value substituted into metrics as {{args.NAME}}.
// +kubebuilder:validation:XValidation:rule="!(has(self.value) && has(self.valueFrom))",message="value and valueFrom are mutually exclusive",fieldPath=".valueFrom",reason=FieldValueForbidden
type Argument struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_-]*$`
	Name string `json:"name"`

	// The value, as it is.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value *string `json:"value,omitempty"`

	// Where the value comes from, when the run starts.
	// +optional
	ValueFrom *ArgumentValueFrom `json:"valueFrom,omitempty"`
}

// ArgumentValueFrom takes an argument's value from the Rollout.
// +kubebuilder:validation:XValidation:rule="has(self.podTemplateHashValue) != has(self.fieldRef)",message="exactly one of podTemplateHashValue and fieldRef must be set",reason=FieldValueInvalid
type ArgumentValueFrom struct {
	// The pod-template-hash of the stable revision (the one serving before this rollout) or
	// of the latest (the one being rolled out).
	// +optional
	PodTemplateHashValue *PodTemplateHashValue `json:"podTemplateHashValue,omitempty"`

	// A field of the Rollout, like metadata.name or
	// spec.template.metadata.labels['app'].
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// PodTemplateHashValue names a revision of the Rollout.
// +kubebuilder:validation:Enum=Stable;Latest
type PodTemplateHashValue string

const (
	// PodTemplateHashStable is the revision that served before this rollout.
	PodTemplateHashStable PodTemplateHashValue = "Stable"
	// PodTemplateHashLatest is the revision being rolled out.
	PodTemplateHashLatest PodTemplateHashValue = "Latest"
)

// FieldRef points into the Rollout.
type FieldRef struct {
	// A dotted path from the Rollout's root; map keys with dots go in ['brackets'].
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	FieldPath string `json:"fieldPath"`
}

// Metric is one measurement repeated over time, and how to judge it.
// +kubebuilder:validation:XValidation:rule="(has(self.provider.job) ? 1 : 0) + (has(self.provider.prometheus) ? 1 : 0) + (has(self.provider.web) ? 1 : 0) == 1",message="exactly one provider (job, prometheus or web) must be set",fieldPath=".provider",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.provider.job) || (!has(self.successCondition) && !has(self.failureCondition))",message="a job metric is judged by the Job's outcome: conditions do not apply",fieldPath=".successCondition",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.count) || self.count <= 1 || has(self.interval)",message="more than one measurement needs an interval",fieldPath=".interval",reason=FieldValueRequired
type Metric struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Time between measurements, like 30s. Absent: the metric is measured once.
	// +optional
	Interval *Duration `json:"interval,omitempty"`

	// How many measurements to take; a measurement error is not one. Absent or 0: 1 without
	// an interval; with one, measurements go on until the analysis is stopped (background
	// analysis).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Count *int32 `json:"count,omitempty"`

	// Time to wait before the first measurement.
	// +optional
	InitialDelay *Duration `json:"initialDelay,omitempty"`

	// A CEL expression over `result` that makes a measurement Successful, like
	// `result < 0.05`, `result.all(x, x < 0.05)` or `result.status == "ok"`. A measurement
	// that meets neither condition is Inconclusive. With only one condition the other is its
	// negation; without conditions every measurement taken is Successful.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	SuccessCondition string `json:"successCondition,omitempty"`

	// A CEL expression over `result` that makes a measurement Failed; it wins over
	// successCondition.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	FailureCondition string `json:"failureCondition,omitempty"`

	// Failed measurements tolerated: one more fails the metric.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	FailureLimit *int32 `json:"failureLimit,omitempty"`

	// Inconclusive measurements tolerated: one more makes the metric Inconclusive.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	InconclusiveLimit *int32 `json:"inconclusiveLimit,omitempty"`

	// Measurement errors in a row tolerated (an unreachable address, a timeout, a non-2xx
	// answer, bad JSON, an empty result): one more makes the metric Error.
	// +optional
	// +kubebuilder:default=4
	// +kubebuilder:validation:Minimum=0
	ConsecutiveErrorLimit *int32 `json:"consecutiveErrorLimit,omitempty"`

	// Where the measurement comes from: exactly one provider.
	Provider MetricProvider `json:"provider"`
}

// Duration is a Go duration string, like 500ms, 30s or 5m.
// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a non-negative duration, like 30s or 5m"
// +kubebuilder:validation:MaxLength=32
type Duration string

// MetricProvider holds one way of measuring.
type MetricProvider struct {
	// Run a Job; the measurement is Successful when it completes, Failed when it fails.
	// +optional
	Job *JobMetric `json:"job,omitempty"`
	// Ask a Prometheus server an instant query.
	// +optional
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`
	// Call an HTTP endpoint and read its JSON answer.
	// +optional
	Web *WebMetric `json:"web,omitempty"`
}

// JobMetric is a Job run for each measurement, owned by the AnalysisRun.
type JobMetric struct {
	// Labels and annotations of the Job.
	// +optional
	Metadata JobMetadata `json:"metadata,omitempty"`
	// The Job's spec.
	Spec batchv1.JobSpec `json:"spec"`
}

// JobMetadata is what of a Job's metadata a metric may set.
type JobMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// PrometheusMetric is an instant query; `result` is a number for a scalar and a list of numbers
// (one per series) for a vector.
type PrometheusMetric struct {
	// The server's base URL, like http://prometheus.monitoring:9090.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	Address string `json:"address"`
	// The PromQL query; {{args.NAME}} is replaced by the argument's value.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=8192
	Query string `json:"query"`
	// How long a query may take; default 10s.
	// +optional
	Timeout *Duration `json:"timeout,omitempty"`
	// Headers sent with the query, like Authorization.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Headers []WebHeader `json:"headers,omitempty"`
}

// WebMetric is an HTTP request; `result` is the JSON value at jsonPath, or the whole body.
type WebMetric struct {
	// {{args.NAME}} is replaced by the argument's value.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
	// +optional
	// +kubebuilder:default=GET
	// +kubebuilder:validation:Enum=GET;POST;PUT
	Method string `json:"method,omitempty"`
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Headers []WebHeader `json:"headers,omitempty"`
	// The request body, for POST and PUT.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	Body string `json:"body,omitempty"`
	// How long the request may take; default 10s.
	// +optional
	Timeout *Duration `json:"timeout,omitempty"`
	// A dotted path into the JSON answer, like `$.data.ok` or `data.items[0].rate`.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	JSONPath string `json:"jsonPath,omitempty"`
}

// WebHeader is one HTTP header.
type WebHeader struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Key string `json:"key"`
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=at,categories=all
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// AnalysisTemplate is a reusable analysis in one namespace.
type AnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisTemplateSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// AnalysisTemplateList is a list of AnalysisTemplates.
type AnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisTemplate `json:"items"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=cat,categories=all
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ClusterAnalysisTemplate is an AnalysisTemplate every namespace can use.
type ClusterAnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisTemplateSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// ClusterAnalysisTemplateList is a list of ClusterAnalysisTemplates.
type ClusterAnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterAnalysisTemplate `json:"items"`
}

// RolloutAnalysis is an analysis a Rollout runs: templates merged into one run, and the
// values of their arguments.
type RolloutAnalysis struct {
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	Templates []AnalysisTemplateRef `json:"templates"`
	// Values for the templates' arguments.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Args []Argument `json:"args,omitempty"`
}

// AnalysisTemplateRef names an AnalysisTemplate of the Rollout's namespace, or a
// ClusterAnalysisTemplate.
type AnalysisTemplateRef struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	TemplateName string `json:"templateName"`
	// The name is a ClusterAnalysisTemplate's.
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
}

// BackgroundAnalysis runs beside a rolling update, from a canary step until the rollout
// completes; a failure at any point aborts the rollout.
type BackgroundAnalysis struct {
	RolloutAnalysis `json:",inline"`
	// The canary step (counted from 0) from which the analysis runs; absent: from the start.
	// +optional
	// +kubebuilder:validation:Minimum=0
	StartingStep *int32 `json:"startingStep,omitempty"`
}

// AnalysisPhase is where an AnalysisRun, a metric or a measurement stands.
type AnalysisPhase string

const (
	AnalysisPhasePending      AnalysisPhase = "Pending"
	AnalysisPhaseRunning      AnalysisPhase = "Running"
	AnalysisPhaseSuccessful   AnalysisPhase = "Successful"
	AnalysisPhaseFailed       AnalysisPhase = "Failed"
	AnalysisPhaseInconclusive AnalysisPhase = "Inconclusive"
	AnalysisPhaseError        AnalysisPhase = "Error"
	// AnalysisPhaseSkipped ends a run that a person promoted past before it decided.
	AnalysisPhaseSkipped AnalysisPhase = "Skipped"
)

// Completed reports whether the phase is final.
func (p AnalysisPhase) Completed() bool {
	switch p {
	case AnalysisPhaseSuccessful, AnalysisPhaseFailed, AnalysisPhaseInconclusive, AnalysisPhaseError, AnalysisPhaseSkipped:
		return true
	}
	return false
}

// AnalysisRunSpec is a run's metrics, with the arguments already substituted.
type AnalysisRunSpec struct {
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	Metrics []Metric `json:"metrics,omitempty"`
	// The arguments' resolved values, for the record.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Args []Argument `json:"args,omitempty"`
	// Stop taking measurements: the run ends Successful unless a metric already failed. The
	// controller sets it when the run is no longer needed (promoted past, superseded, the
	// rollout complete or aborted).
	// +optional
	Terminate bool `json:"terminate,omitempty"`
	// With terminate: the run was promoted past before it decided, and ends Skipped, not
	// Successful.
	// +optional
	Skip bool `json:"skip,omitempty"`
	// Why the run was stopped.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	TerminateReason string `json:"terminateReason,omitempty"`
	// Why the analysis cannot start (a missing template or argument, a condition that does not
	// compile): the run ends Error with it. Set when the run is created, so that no run is
	// ever seen without its metrics and without the reason.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Invalid string `json:"invalid,omitempty"`
}

// MaxMeasurements is how many measurements a metric's result keeps; older ones are dropped.
const MaxMeasurements = 10

// AnalysisRunStatus is where a run stands.
type AnalysisRunStatus struct {
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`
	// Why the run ended as it did, naming the deciding metric and measurement.
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	StartedAt *metav1.MicroTime `json:"startedAt,omitempty"`
	// Metrics that ended Successful and Failed, as "passed/failed" for kubectl get.
	// +optional
	Summary string `json:"summary,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=name
	MetricResults []MetricResult `json:"metricResults,omitempty"`
}

// MetricResult is one metric's counters and latest measurements.
type MetricResult struct {
	Name string `json:"name"`
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// Measurements finished, of every phase.
	// +optional
	Count int32 `json:"count,omitempty"`
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// +optional
	Error int32 `json:"error,omitempty"`
	// Errors in a row, since the last measurement that was not one.
	// +optional
	ConsecutiveError int32 `json:"consecutiveError,omitempty"`
	// The last measurements, oldest first (at most MaxMeasurements).
	// +optional
	// +listType=atomic
	Measurements []Measurement `json:"measurements,omitempty"`
}

// Measurement is one reading of a metric.
type Measurement struct {
	Phase AnalysisPhase `json:"phase"`
	// The value read, as JSON.
	// +optional
	Value string `json:"value,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	StartedAt *metav1.MicroTime `json:"startedAt,omitempty"`
	// +optional
	FinishedAt *metav1.MicroTime `json:"finishedAt,omitempty"`
	// The Job of a job metric's measurement.
	// +optional
	JobName string `json:"jobName,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ar,categories=all
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Metrics",type=string,JSONPath=`.status.summary`,description="Metrics passed/failed"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1

// AnalysisRun is one analysis of one revision of a Rollout, at one point of its rollout. The
// Rollout owns it.
type AnalysisRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AnalysisRunSpec   `json:"spec,omitempty"`
	Status AnalysisRunStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// AnalysisRunList is a list of AnalysisRuns.
type AnalysisRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisRun `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AnalysisTemplate{}, &AnalysisTemplateList{}, &ClusterAnalysisTemplate{}, &ClusterAnalysisTemplateList{},
		&AnalysisRun{}, &AnalysisRunList{})
}
