package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RolloutStrategyType names how old pods are replaced by new ones.
// +kubebuilder:validation:Enum=RollingUpdate;Recreate;BlueGreen
type RolloutStrategyType string

const (
	// RecreateRolloutStrategyType kills all old pods before new ones are created.
	RecreateRolloutStrategyType RolloutStrategyType = "Recreate"
	// RollingUpdateRolloutStrategyType replaces old pods with new ones gradually,
	// bounded by maxSurge and maxUnavailable.
	RollingUpdateRolloutStrategyType RolloutStrategyType = "RollingUpdate"
	// BlueGreenRolloutStrategyType runs the new revision at full size beside the old one and
	// switches a Service's selector from one to the other.
	BlueGreenRolloutStrategyType RolloutStrategyType = "BlueGreen"
)

// DefaultMaxSurge and DefaultMaxUnavailable apply when rollingUpdate or one of its fields is
// absent, as for a Deployment.
var (
	DefaultMaxSurge       = intstr.FromString("25%")
	DefaultMaxUnavailable = intstr.FromString("25%")
)

// RolloutSpec is the desired state of a Rollout. It has the fields of an apps/v1 DeploymentSpec,
// with the same names, types and defaults, so a Deployment manifest becomes a Rollout by
// changing only apiVersion and kind. The rules below are the Deployment's validation.
// +kubebuilder:validation:XValidation:rule="!has(self.progressDeadlineSeconds) || self.progressDeadlineSeconds > (has(self.minReadySeconds) ? self.minReadySeconds : 0)",message="must be greater than minReadySeconds",fieldPath=".progressDeadlineSeconds",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.template.spec.restartPolicy) || self.template.spec.restartPolicy == 'Always'",message="Unsupported value: only \"Always\" is supported",fieldPath=".template.spec.restartPolicy",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.selector.matchLabels) || self.selector.matchLabels.all(k, has(self.template.metadata) && has(self.template.metadata.labels) && k in self.template.metadata.labels && self.template.metadata.labels[k] == self.selector.matchLabels[k])",message="selector does not match template labels",fieldPath=".template.metadata.labels",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.selector.matchExpressions) || self.selector.matchExpressions.all(e, e.operator == 'In' ? (has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels && has(e.values) && self.template.metadata.labels[e.key] in e.values) : e.operator == 'NotIn' ? !(has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels && has(e.values) && self.template.metadata.labels[e.key] in e.values) : e.operator == 'Exists' ? (has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels) : !(has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels))",message="selector does not match template labels",fieldPath=".template.metadata.labels",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.abortOn) || !has(self.strategy.type) || self.strategy.type == 'RollingUpdate'",message="needs the RollingUpdate strategy: an abort hands the pods back to the stable revision",fieldPath=".abortOn",reason=FieldValueForbidden
type RolloutSpec struct {
	// Number of desired pods. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`

	// Label query over pods that should match the replica count. It must match the pod
	// template's labels, must not be empty, and cannot change after creation.
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="empty selector is invalid for a Rollout",reason=FieldValueRequired
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="field is immutable"
	Selector *metav1.LabelSelector `json:"selector"`

	// Template describes the pods that will be created.
	Template corev1.PodTemplateSpec `json:"template"`

	// The rollout strategy to use to replace existing pods with new ones.
	// +optional
	// +kubebuilder:default={type: RollingUpdate}
	Strategy RolloutStrategy `json:"strategy,omitempty"`

	// Minimum number of seconds for which a newly created pod should be ready without any of
	// its containers crashing, for it to be considered available. Defaults to 0.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`

	// The number of old ReplicaSets to retain to allow rollback. Defaults to 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// Indicates that the rollout is paused: no new revision is rolled out while it is set,
	// scaling still applies.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// The maximum time in seconds for a rollout to make progress before it is considered
	// failed (condition Progressing=False, reason ProgressDeadlineExceeded). Defaults to 600.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=0
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// Pod condition types that must all be True, besides the pod being available, before a
	// pod counts toward the rollout's progress (and status.availableReplicas): a smoke test or
	// a person signs each new pod off. Unlike readinessGates they do not keep the pod out of
	// its Services. Absent: availability alone counts.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=316
	ProgressGates []string `json:"progressGates,omitempty"`

	// What the controller does when the progress deadline passes: None (only the Progressing
	// condition says so, as for a Deployment), Pause (sets spec.paused), or Rollback (aborts:
	// the stable revision gets every pod back and the failed template is not tried again
	// until it changes or `kubectl stepwise retry`). Empty means None.
	// +optional
	ProgressDeadlineAction ProgressDeadlineAction `json:"progressDeadlineAction,omitempty"`

	// Abort the rollout of a new revision (as kubectl stepwise abort does) as soon as one of its
	// pods shows it cannot work, without waiting for the progress deadline. Only the new
	// revision's pods count; the first revision is never aborted (there is nothing to go
	// back to).
	// +optional
	AbortOn *AbortOn `json:"abortOn,omitempty"`

	// Which pods count against replicas + maxSurge while a rolling update (steps and partition
	// included) grows the new revision. TerminationStarted (the default): the pods that exist
	// and are not terminating; a ReplicaSet counts as the larger of its spec.replicas and
	// status.replicas, so no new pod is created before the old pods it replaces have begun to
	// terminate. TerminationComplete: terminating pods count too (status.terminatingReplicas),
	// so a new pod is created only once an old one is gone, as Recreate always waits.
	// Under both, a ReplicaSet still creating pods is not scaled down until they exist.
	// ReplicaSetSizes: the sum of the ReplicaSets' spec.replicas only, as a Deployment counts;
	// quicker, but the pods that exist may briefly pass the bound. Availability is unaffected
	// by each, and BlueGreen runs two full sets by design.
	// +optional
	PodReplacementPolicy PodReplacementPolicy `json:"podReplacementPolicy,omitempty"`
}

// PodReplacementPolicy says when a replaced pod stops counting against maxSurge.
// +kubebuilder:validation:Enum=TerminationStarted;TerminationComplete;ReplicaSetSizes
type PodReplacementPolicy string

const (
	PodReplacementPolicyTerminationStarted  PodReplacementPolicy = "TerminationStarted"
	PodReplacementPolicyTerminationComplete PodReplacementPolicy = "TerminationComplete"
	PodReplacementPolicyReplicaSetSizes     PodReplacementPolicy = "ReplicaSetSizes"
)

// AbortOn lists the pod states that abort a rollout.
// +kubebuilder:validation:XValidation:rule="has(self.restarts) || (has(self.waitingReasons) && size(self.waitingReasons) > 0)",message="set restarts or waitingReasons",reason=FieldValueRequired
type AbortOn struct {
	// A container of a new pod restarted more than this many times.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Restarts *int32 `json:"restarts,omitempty"`

	// A container of a new pod waits for one of these reasons, like CrashLoopBackOff,
	// ImagePullBackOff, ErrImagePull or CreateContainerConfigError.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	WaitingReasons []string `json:"waitingReasons,omitempty"`
}

// ProgressDeadlineAction names what happens when a rollout exceeds its progress deadline.
// +kubebuilder:validation:Enum=None;Pause;Rollback
type ProgressDeadlineAction string

const (
	// ProgressDeadlineActionNone only reports the failure (Progressing=False).
	ProgressDeadlineActionNone ProgressDeadlineAction = "None"
	// ProgressDeadlineActionPause sets spec.paused.
	ProgressDeadlineActionPause ProgressDeadlineAction = "Pause"
	// ProgressDeadlineActionRollback aborts the rollout: the stable revision holds every pod.
	ProgressDeadlineActionRollback ProgressDeadlineAction = "Rollback"
)

// RolloutStrategy describes how to replace existing pods with new ones.
// +kubebuilder:validation:XValidation:rule="!has(self.type) || self.type != 'Recreate' || !has(self.rollingUpdate)",message="may not be specified when strategy type is 'Recreate'",fieldPath=".rollingUpdate",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.type) || self.type != 'BlueGreen' || !has(self.rollingUpdate)",message="may not be specified when strategy type is 'BlueGreen'",fieldPath=".rollingUpdate",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="has(self.type) && self.type == 'BlueGreen' ? has(self.blueGreen) : !has(self.blueGreen)",message="must be specified exactly when strategy type is 'BlueGreen'",fieldPath=".blueGreen",reason=FieldValueRequired
type RolloutStrategy struct {
	// Type of rollout: "Recreate", "RollingUpdate" or "BlueGreen". Default is RollingUpdate.
	// +optional
	// +kubebuilder:default=RollingUpdate
	Type RolloutStrategyType `json:"type,omitempty"`

	// Rolling update parameters, present only when type is RollingUpdate. When absent, a
	// RollingUpdate uses maxSurge 25% and maxUnavailable 25%.
	// +optional
	RollingUpdate *RollingUpdateRollout `json:"rollingUpdate,omitempty"`

	// Blue-green parameters, present exactly when type is BlueGreen.
	// +optional
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`
}

// BlueGreenStrategy switches traffic between two full-size revisions by Service selectors.
type BlueGreenStrategy struct {
	// An existing Service in the Rollout's namespace whose selector the controller points at
	// the active revision's pod-template-hash (keeping its other selector labels).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	ActiveService string `json:"activeService"`

	// An existing Service the controller points at the new revision as soon as it exists, to
	// try it before promotion.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	PreviewService string `json:"previewService,omitempty"`

	// Promote by itself this many seconds after the new revision is fully available. Absent:
	// wait for kubectl stepwise promote.
	// +optional
	// +kubebuilder:validation:Minimum=0
	AutoPromotionSeconds *int32 `json:"autoPromotionSeconds,omitempty"`

	// How long the previous revision keeps its pods after the switch, so that an undo inside
	// this window switches straight back. Defaults to 30.
	// +optional
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=0
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`

	// An analysis of the new revision behind the preview Service before the active Service
	// switches to it: a failure aborts (no switch, the new revision scaled down, the active
	// Service untouched), an inconclusive result pauses until promoted. Promotion still follows
	// autoPromotionSeconds or kubectl stepwise promote once it passed.
	// +optional
	PrePromotionAnalysis *RolloutAnalysis `json:"prePromotionAnalysis,omitempty"`

	// An analysis of the new revision after the switch, while the previous revision keeps its
	// pods (the scale-down delay counts from when it passes): a failure switches the active
	// Service straight back and aborts.
	// +optional
	PostPromotionAnalysis *RolloutAnalysis `json:"postPromotionAnalysis,omitempty"`
}

// DefaultScaleDownDelaySeconds is a BlueGreen rollout's scaleDownDelaySeconds when absent.
const DefaultScaleDownDelaySeconds = 30

// BlueGreenStatus remembers the revision the active Service left, for the scale-down delay.
type BlueGreenStatus struct {
	// The pod-template-hash the active Service pointed at before the last switch.
	// +optional
	PreviousActiveHash string `json:"previousActiveHash,omitempty"`

	// When the previous revision's pods go, rounded up to a whole second so that the delay is
	// never shorter than asked.
	// +optional
	ScaleDownAt *metav1.Time `json:"scaleDownAt,omitempty"`
}

// RollingUpdateRollout bounds a rolling update.
// +kubebuilder:validation:XValidation:rule="!has(self.maxSurge) || !has(self.maxUnavailable) || !(type(self.maxSurge) == int ? self.maxSurge == 0 : self.maxSurge == '0%') || !(type(self.maxUnavailable) == int ? self.maxUnavailable == 0 : self.maxUnavailable == '0%')",message="may not be 0 when maxSurge is 0",fieldPath=".maxUnavailable",reason=FieldValueInvalid
type RollingUpdateRollout struct {
	// The maximum number of pods that can be unavailable during the update: an absolute
	// number or a percentage of desired pods (at most 100%), rounded down. Defaults to 25%.
	// +optional
	// +kubebuilder:default="25%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=12
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="must be a non-negative integer or a percentage from 0% to 100%, like 25%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// The maximum number of pods that can be scheduled above the desired number of pods: an
	// absolute number or a percentage of desired pods, rounded up. Defaults to 25%.
	// +optional
	// +kubebuilder:default="25%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=12
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^[0-9]{1,9}%$')",message="must be a non-negative integer or a percentage, like 25%"
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`

	// Pods kept on old revisions, as in an OpenKruise CloneSet: an absolute number or a
	// percentage of desired pods (at most 100%), rounded up. The new revision gets the rest;
	// lower it to go on. Absent or 0: every pod is updated.
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=12
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="must be a non-negative integer or a percentage from 0% to 100%, like 25%"
	Partition *intstr.IntOrString `json:"partition,omitempty"`

	// Canary steps: the new revision first gets each step's number of pods in turn (the old
	// revisions keep the rest, so spec.replicas stays the total), optionally pausing after
	// a step until promoted or for a while; after the last step it gets every pod. They
	// apply to every new revision but the first. maxSurge and maxUnavailable bound each move.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Steps []CanaryStep `json:"steps,omitempty"`

	// An analysis that runs beside the rollout of each new revision but the first, from
	// startingStep (or the start) until it completes; a failure at any point aborts it.
	// +optional
	Analysis *BackgroundAnalysis `json:"analysis,omitempty"`
}

// GetAnalysis returns the background analysis; none when ru is nil.
func (ru *RollingUpdateRollout) GetAnalysis() *BackgroundAnalysis {
	if ru == nil {
		return nil
	}
	return ru.Analysis
}

// GetSteps returns the canary steps; none when ru is nil.
func (ru *RollingUpdateRollout) GetSteps() []CanaryStep {
	if ru == nil {
		return nil
	}
	return ru.Steps
}

// CanaryStep is one stage of a canary rollout: the new revision's pods reach the step's
// number, then its analysis runs, then its pause.
// +kubebuilder:validation:XValidation:rule="has(self.replicas) || has(self.pause) || has(self.analysis)",message="a step needs replicas, pause or analysis",reason=FieldValueRequired
type CanaryStep struct {
	// Pods on the new revision at this step: an absolute number or a percentage of desired
	// pods (at most 100%), rounded up. A step never has fewer pods than the steps before it.
	// Absent: as many as the step before (none before the first).
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=12
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="must be a non-negative integer or a percentage from 0% to 100%, like 25%"
	Replicas *intstr.IntOrString `json:"replicas,omitempty"`

	// Run an analysis once the step's pods are available, and go on only when it succeeds:
	// a failure aborts the rollout, an inconclusive result pauses it until promoted.
	// +optional
	Analysis *RolloutAnalysis `json:"analysis,omitempty"`

	// Pause once the step is reached (its pods available): without durationSeconds until
	// promoted (kubectl stepwise promote), with it for that long. Absent: go on at once.
	// +optional
	Pause *CanaryPause `json:"pause,omitempty"`
}

// CanaryPause is a wait after a canary step.
type CanaryPause struct {
	// Seconds to wait before the next step; absent: wait until promoted.
	// +optional
	// +kubebuilder:validation:Minimum=0
	DurationSeconds *int32 `json:"durationSeconds,omitempty"`
}

// GetAborted reports whether the rollout was aborted; false when st is nil.
func (st *CanaryStatus) GetAborted() bool { return st != nil && st.Aborted }

// CanaryStatus is where the rollout of the current revision stands: its canary step, and
// whether it was aborted. `kubectl stepwise promote`, `abort` and `retry` change it.
type CanaryStatus struct {
	// The pod-template-hash of the revision this state belongs to; state recorded for another
	// template is void.
	PodTemplateHash string `json:"podTemplateHash"`

	// Index of the step the rollout works toward or is paused at; the number of steps once
	// they are all done.
	// +optional
	CurrentStep int32 `json:"currentStep,omitempty"`

	// When the pause of the current step began, rounded up to a whole second so that a timed
	// pause is never shorter than asked.
	// +optional
	PauseStartTime *metav1.Time `json:"pauseStartTime,omitempty"`

	// Set by abort: the new revision is scaled down and the stable one (the newest older
	// revision) holds every pod, until retry or a new template.
	// +optional
	Aborted bool `json:"aborted,omitempty"`

	// Who or what aborted the rollout.
	// +optional
	AbortReason string `json:"abortReason,omitempty"`

	// How many times retry started this revision's rollout over; the analysis runs of an
	// earlier attempt are not looked at again.
	// +optional
	Attempt int32 `json:"attempt,omitempty"`

	// The analysis point ("step-N" or "background") whose inconclusive or invalid run pauses
	// the rollout.
	// +optional
	PausedAnalysis string `json:"pausedAnalysis,omitempty"`

	// Background analyses a person promoted past (kubectl stepwise promote) in this attempt.
	// +optional
	// +listType=set
	PromotedAnalyses []string `json:"promotedAnalyses,omitempty"`
}

// RolloutStatus is the observed state of a Rollout. Its counters mean what a DeploymentStatus's
// counters mean.
type RolloutStatus struct {
	// The generation observed by the controller, set after a successful sync.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Total number of non-terminating pods targeted by this Rollout (their labels match the
	// selector).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Total number of non-terminating pods targeted by this Rollout that have the desired
	// template spec.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`

	// Total number of non-terminating pods targeted by this Rollout with a Ready condition.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// Total number of available non-terminating pods (ready for at least minReadySeconds).
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`

	// Total number of unavailable pods targeted by this Rollout: pods still needed for it to
	// have 100% available capacity.
	// +optional
	UnavailableReplicas int32 `json:"unavailableReplicas,omitempty"`

	// Total number of terminating pods targeted by this Rollout, when the ReplicaSets report
	// it.
	// +optional
	TerminatingReplicas *int32 `json:"terminatingReplicas,omitempty"`

	// The latest available observations of the Rollout's state.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// Count of hash collisions for the Rollout, used as a salt when the name of the newest
	// ReplicaSet is computed.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`

	// The label selector of the pods, in string form, for the scale subresource (kubectl
	// scale, HorizontalPodAutoscaler).
	// +optional
	Selector string `json:"selector,omitempty"`

	// The revision number of the ReplicaSet that runs the current pod template.
	// +optional
	CurrentRevision int64 `json:"currentRevision,omitempty"`

	// When the rollout last made progress (a Deployment keeps this as its Progressing
	// condition's lastUpdateTime), rounded up to a whole second; the progress deadline counts
	// from it.
	// +optional
	LastProgressTime *metav1.Time `json:"lastProgressTime,omitempty"`

	// Ready pods over desired pods ("2/3"), the READY column of kubectl get.
	// +optional
	Ready string `json:"ready,omitempty"`

	// The canary step and abort state of the current revision, for a RollingUpdate with
	// steps or one that was aborted.
	// +optional
	Canary *CanaryStatus `json:"canary,omitempty"`

	// The scale-down delay of a BlueGreen rollout.
	// +optional
	BlueGreen *BlueGreenStatus `json:"blueGreen,omitempty"`
}

// MaxNameLength is the longest name a Rollout may have. Its ReplicaSets are named
// <name>-<pod-template-hash>, with a hash of up to 10 characters (a uint32 in decimal digits,
// collisionCount included), and a ReplicaSet's name is a DNS subdomain of at most 253
// characters. Pod names set no lower limit: the API server cuts a generated name's prefix
// short. The Rollout's root validation rule below repeats the number.
const MaxNameLength = 253 - len("-") - 10

// Rollout keeps a set of pods running one pod template, replacing them revision by revision
// the way a Deployment does, with its progress kept in the cluster.
// +kubebuilder:object:root=true
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 242",message="metadata.name must be no more than 242 characters: the Rollout's ReplicaSets are named <name>-<pod-template-hash>, and a ReplicaSet's name holds at most 253"
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=sro,categories=all
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.ready`
// +kubebuilder:printcolumn:name="Up-to-date",type=integer,JSONPath=`.status.updatedReplicas`
// +kubebuilder:printcolumn:name="Available",type=integer,JSONPath=`.status.availableReplicas`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Containers",type=string,JSONPath=`.spec.template.spec.containers[*].name`,priority=1
// +kubebuilder:printcolumn:name="Images",type=string,JSONPath=`.spec.template.spec.containers[*].image`,priority=1
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.status.selector`,priority=1
// +kubebuilder:printcolumn:name="Step",type=integer,JSONPath=`.status.canary.currentStep`,priority=1
type Rollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RolloutSpec   `json:"spec,omitempty"`
	Status RolloutStatus `json:"status,omitempty"`
}

// RolloutList is a list of Rollouts.
// +kubebuilder:object:root=true
type RolloutList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Rollout `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Rollout{}, &RolloutList{})
}
