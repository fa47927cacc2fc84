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
	// ReasonRolloutResumed: spec.paused was cleared.
	ReasonRolloutResumed = "RolloutResumed"
	// ReasonInvalidSpec: InvalidSpec=True.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonReplicaSetCreateError: creating the ReplicaSet of the new revision failed.
	ReasonReplicaSetCreateError = "ReplicaSetCreateError"
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
	// PodTemplateHashLabel tells the ReplicaSets of one Rollout apart.
	PodTemplateHashLabel = "pod-template-hash"
)
