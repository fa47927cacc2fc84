package v1alpha1

// Condition types of a Rollout; they mean what a Deployment's conditions of the same name mean.
const (
	// ConditionAvailable is True when at least replicas - maxUnavailable pods are available.
	ConditionAvailable = "Available"
	// ConditionProgressing is True while a rollout moves forward or has completed, and False
	// once it has made no progress for progressDeadlineSeconds.
	ConditionProgressing = "Progressing"
	// ConditionReplicaFailure is True when a ReplicaSet of the Rollout fails to create or
	// delete pods; it is copied from the ReplicaSet.
	ConditionReplicaFailure = "ReplicaFailure"
	// ConditionInvalidSpec is True while the spec cannot be acted on; its message names the
	// field. The controller does not retry until the spec changes.
	ConditionInvalidSpec = "InvalidSpec"
	// ConditionComplete is True when the current generation is fully rolled out: every desired
	// pod runs the current template and is available, no old pod is left. It carries the
	// generation it was computed for, so `kubectl wait --for=condition=Complete` never sees a
	// stale True after a change.
	ConditionComplete = "Complete"
	// ConditionPaused is True while the rollout waits for a person: spec.paused, a canary
	// step's pause, a partition reached, or an abort. `kubectl wait --for=condition=Paused`
	// tells CI when to look at a canary.
	ConditionPaused = "Paused"
	// ConditionRollback reports the last rollback request (the stepwise.dev/rollback-to
	// annotation): True when it was carried out, False with the reason when not.
	ConditionRollback = "Rollback"
)

// Reasons of the conditions above, worded as the Deployment controller words them.
const (
	// ReasonMinimumReplicasAvailable: Available=True.
	ReasonMinimumReplicasAvailable = "MinimumReplicasAvailable"
	// ReasonMinimumReplicasUnavailable: Available=False.
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	// ReasonNewReplicaSetCreated: the ReplicaSet of a new revision was created.
	ReasonNewReplicaSetCreated = "NewReplicaSetCreated"
	// ReasonFoundNewReplicaSet: an existing ReplicaSet already runs the current template.
	ReasonFoundNewReplicaSet = "FoundNewReplicaSet"
	// ReasonReplicaSetUpdated: the rollout scaled its ReplicaSets and is moving forward.
	ReasonReplicaSetUpdated = "ReplicaSetUpdated"
	// ReasonNewReplicaSetAvailable: the rollout of the current revision is complete.
	ReasonNewReplicaSetAvailable = "NewReplicaSetAvailable"
	// ReasonProgressDeadlineExceeded: no progress for progressDeadlineSeconds.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	// ReasonRolloutPaused: spec.paused is set; the deadline is not checked while paused.
	ReasonRolloutPaused = "RolloutPaused"
	// ReasonCanaryPauseStep: Paused=True at a canary step, until promoted or its duration ends.
	ReasonCanaryPauseStep = "CanaryPauseStep"
	// ReasonAwaitingPromotion: Paused=True, a BlueGreen rollout's new revision is fully
	// available behind the preview Service, waiting for promotion.
	ReasonAwaitingPromotion = "AwaitingPromotion"
	// ReasonPartitionReached: Paused=True, every pod the partition allows runs the new revision.
	ReasonPartitionReached = "PartitionReached"
	// ReasonRolloutAborted: Paused=True, the new revision was aborted; the stable one holds.
	ReasonRolloutAborted = "RolloutAborted"
	// ReasonRolloutResumed: spec.paused was cleared.
	ReasonRolloutResumed = "RolloutResumed"
	// ReasonRolloutComplete: Complete=True.
	ReasonRolloutComplete = "RolloutComplete"
	// ReasonRolloutInProgress: Complete=False while the rollout moves.
	ReasonRolloutInProgress = "RolloutInProgress"
	// ReasonRolloutFailed: Complete=False after the progress deadline passed.
	ReasonRolloutFailed = "RolloutFailed"
	// ReasonRolledBack: Rollback=True, the template of the requested revision is restored.
	ReasonRolledBack = "RolledBack"
	// ReasonRevisionNotFound: Rollback=False, no such revision is kept; nothing changed.
	ReasonRevisionNotFound = "RevisionNotFound"
	// ReasonRollbackSkipped: Rollback=False, the Rollout already runs that revision.
	ReasonRollbackSkipped = "RollbackSkipped"
	// ReasonInvalidSpec: InvalidSpec=True.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonReplicaSetCreateError: creating the ReplicaSet of the new revision failed.
	ReasonReplicaSetCreateError = "ReplicaSetCreateError"
	// ReasonDeploymentOwnsReplicaSets: Progressing=Unknown, a Deployment controls ReplicaSets
	// this Rollout's selector matches; the Rollout changes nothing until the Deployment is
	// deleted with orphan propagation, then adopts them (a migration).
	ReasonDeploymentOwnsReplicaSets = "DeploymentOwnsReplicaSets"
	// ReasonInconclusiveAnalysis: Paused=True, an analysis ended Inconclusive (or with more
	// measurement errors in a row than allowed); promote goes on, abort goes back.
	ReasonInconclusiveAnalysis = "InconclusiveAnalysis"
	// ReasonInvalidAnalysis: Paused=True, an analysis could not start (a missing template or
	// argument, a condition that does not compile); fix it, then retry or promote.
	ReasonInvalidAnalysis = "InvalidAnalysis"
)

// Reasons of the events about analysis; AnalysisFailed is also the abort reason's prefix.
const (
	EventAnalysisRunning      = "AnalysisRunning"
	EventAnalysisSuccessful   = "AnalysisSuccessful"
	EventAnalysisFailed       = "AnalysisFailed"
	EventAnalysisInconclusive = "AnalysisInconclusive"
	// EventPodUnhealthy: a pod of the new revision met spec.abortOn; the rollout is aborted.
	EventPodUnhealthy = "PodUnhealthy"
)

// Labels and annotations the controller reads and writes.
const (
	// RevisionAnnotation holds a ReplicaSet's revision number (and is copied to the Rollout).
	RevisionAnnotation = "stepwise.dev/revision"
	// RevisionHistoryAnnotation lists, comma-separated, the earlier revision numbers a
	// ReplicaSet had before it was brought back by an undo.
	RevisionHistoryAnnotation = "stepwise.dev/revision-history"
	// DesiredReplicasAnnotation records the Rollout's replicas when a ReplicaSet was last
	// scaled, for proportional scaling.
	DesiredReplicasAnnotation = "stepwise.dev/desired-replicas"
	// MaxReplicasAnnotation records replicas + maxSurge when a ReplicaSet was last scaled.
	MaxReplicasAnnotation = "stepwise.dev/max-replicas"
	// ChangeCauseAnnotation is kubectl's record of why a revision was made.
	ChangeCauseAnnotation = "kubernetes.io/change-cause"
	// RollbackRequestAnnotation asks the controller to roll the Rollout back to the revision
	// it names ("0" or "" for the previous one); the controller clears it once handled.
	RollbackRequestAnnotation = "stepwise.dev/rollback-to"
	// MigratedFromAnnotation marks the Rollout (or Deployment) that `kubectl stepwise migrate`
	// is creating in place of a Deployment (or Rollout), until it has adopted the ReplicaSets and
	// is handed over; it records the source (kind, UID, whether it was paused) in JSON, and a
	// re-run of the command finishes a migration whose target carries it.
	MigratedFromAnnotation = "stepwise.dev/migrated-from"
	// PodTemplateHashLabel tells the ReplicaSets of one Rollout apart.
	PodTemplateHashLabel = "pod-template-hash"
	// AnalysisPointLabel says where in a rollout an AnalysisRun belongs: "step-N" (N counted
	// from 1) or "background".
	AnalysisPointLabel = "stepwise.dev/analysis"
	// AnalysisAttemptLabel is the rollout attempt (status.canary.attempt) an AnalysisRun
	// belongs to.
	AnalysisAttemptLabel = "stepwise.dev/attempt"
	// AnalysisRevisionLabel is the revision an AnalysisRun analyses: an undo or a return to an
	// earlier template is a new revision, analysed anew.
	AnalysisRevisionLabel = "stepwise.dev/revision"
)
