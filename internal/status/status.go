// Package status computes a Rollout's status from its ReplicaSets, purely: counters and the
// Available, Progressing and ReplicaFailure conditions, worded and timed as a Deployment's.
package status

import (
	"fmt"
	"math"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
)

// Input is what a status is computed from.
type Input struct {
	// Rollout carries the status written by the previous reconcile.
	Rollout *stepwisev1alpha1.Rollout
	// Replicas and MaxUnavailable are the Rollout's resolved sizes.
	Replicas, MaxUnavailable int32
	// NewRS (nil when there is none yet) and AllRSs are the ReplicaSets as this reconcile
	// leaves them.
	NewRS  *appsv1.ReplicaSet
	AllRSs []*appsv1.ReplicaSet
	// CreatedNewRS is set when this reconcile created the new ReplicaSet.
	CreatedNewRS bool
	// EvaluateProgress is set when the reconcile moved the rollout (not for a paused Rollout
	// or a scaling event): the Progressing and ReplicaFailure conditions are evaluated.
	EvaluateProgress bool
	Now              time.Time
	// Canary is the canary step and abort state to record.
	Canary *stepwisev1alpha1.CanaryStatus
	// Hold is why the rollout waits for a person, or nil.
	Hold *Hold
	// BlueGreen is the blue-green scale-down window to record.
	BlueGreen *stepwisev1alpha1.BlueGreenStatus
}

// Hold is why a rollout waits for a person: a canary pause, a partition reached, an abort.
// The Paused condition carries it; the progress deadline does not run meanwhile.
type Hold struct {
	// Reason is the Paused condition's reason (ReasonCanaryPauseStep, ...).
	Reason string
	// Message says where the rollout stands and what lets it go on.
	Message string
}

// Compute returns the Rollout's new status. observedGeneration is set to the Rollout's
// generation; the reconciler keeps the old value when the reconcile failed.
func Compute(in Input) stepwisev1alpha1.RolloutStatus {
	ro, now := in.Rollout, metav1.NewTime(in.Now)
	st := ro.Status.DeepCopy()
	st.ObservedGeneration = ro.Generation
	meta.RemoveStatusCondition(&st.Conditions, stepwisev1alpha1.ConditionInvalidSpec)
	if held := meta.FindStatusCondition(st.Conditions, stepwisev1alpha1.ConditionProgressing); held != nil && held.Reason == stepwisev1alpha1.ReasonDeploymentOwnsReplicaSets {
		meta.RemoveStatusCondition(&st.Conditions, stepwisev1alpha1.ConditionProgressing) // no longer held: computed afresh
	}
	c := conditions{st: st, generation: ro.Generation, now: now}

	st.Canary, st.BlueGreen = in.Canary.DeepCopy(), in.BlueGreen.DeepCopy()
	paused := setPaused(st, ro, in.Hold, now)
	// The conditions Deployment sets before it syncs: pause/resume, and the new ReplicaSet.
	if hasProgressDeadline(ro) {
		progressing := c.get(stepwisev1alpha1.ConditionProgressing)
		isPaused := progressing != nil && progressing.Reason == stepwisev1alpha1.ReasonRolloutPaused
		switch {
		case paused != nil && !isPaused:
			c.setProgress(metav1.ConditionUnknown, stepwisev1alpha1.ReasonRolloutPaused, paused.Message)
		case paused == nil && isPaused:
			c.setProgress(metav1.ConditionUnknown, stepwisev1alpha1.ReasonRolloutResumed, "Rollout is resumed")
		}
	}
	newRS := in.NewRS
	if newRS != nil {
		st.CurrentRevision = revision.Of(newRS)
		if hasProgressDeadline(ro) {
			switch {
			case in.CreatedNewRS:
				c.setProgress(metav1.ConditionTrue, stepwisev1alpha1.ReasonNewReplicaSetCreated, fmt.Sprintf("Created new replica set %q", newRS.Name))
			case c.get(stepwisev1alpha1.ConditionProgressing) == nil:
				c.setProgress(metav1.ConditionTrue, stepwisev1alpha1.ReasonFoundNewReplicaSet, fmt.Sprintf("Found new replica set %q", newRS.Name))
			}
		}
	}
	previous := *st.DeepCopy() // what progress is measured against

	setCounters(st, in.AllRSs, newRS, ro)
	if st.AvailableReplicas >= in.Replicas-in.MaxUnavailable {
		c.set(stepwisev1alpha1.ConditionAvailable, metav1.ConditionTrue, stepwisev1alpha1.ReasonMinimumReplicasAvailable, "Rollout has minimum availability.")
	} else {
		c.set(stepwisev1alpha1.ConditionAvailable, metav1.ConditionFalse, stepwisev1alpha1.ReasonMinimumReplicasUnavailable, "Rollout does not have minimum availability.")
	}
	if in.EvaluateProgress {
		if paused == nil {
			evaluateProgress(&c, ro, &previous, newRS, in.Replicas)
			if ro.Spec.ProgressDeadlineAction == stepwisev1alpha1.ProgressDeadlineActionRollback && deadlineExceeded(st) {
				// The next reconcile hands every pod back to the stable revision and holds.
				st.Canary = aborted(ro, st.Canary, "the progress deadline passed (progressDeadlineAction: Rollback)")
			}
		}
		copyReplicaFailure(&c, in.AllRSs, newRS)
	}
	st.Ready = fmt.Sprintf("%d/%d", st.ReadyReplicas, in.Replicas)
	setComplete(ro, st, now)
	return *st
}

// setPaused sets the Paused condition from the hold or spec.paused (removing it when neither
// applies) and returns it. Its message follows the hold (the step moves on), its transition
// time only a change of status.
func setPaused(st *stepwisev1alpha1.RolloutStatus, ro *stepwisev1alpha1.Rollout, hold *Hold, now metav1.Time) *metav1.Condition {
	switch {
	case hold != nil:
	case ro.Spec.Paused:
		hold = &Hold{Reason: stepwisev1alpha1.ReasonRolloutPaused, Message: "Rollout is paused"}
	default:
		meta.RemoveStatusCondition(&st.Conditions, stepwisev1alpha1.ConditionPaused)
		return nil
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: stepwisev1alpha1.ConditionPaused, Status: metav1.ConditionTrue, Reason: hold.Reason, Message: hold.Message,
		ObservedGeneration: ro.Generation, LastTransitionTime: now,
	})
	return meta.FindStatusCondition(st.Conditions, stepwisev1alpha1.ConditionPaused)
}

// setComplete sets the Complete condition from the same rules as kubectl stepwise status.
func setComplete(ro *stepwisev1alpha1.Rollout, st *stepwisev1alpha1.RolloutStatus, now metav1.Time) {
	view := ro.DeepCopy()
	view.Status = *st
	cond := metav1.Condition{Type: stepwisev1alpha1.ConditionComplete, ObservedGeneration: ro.Generation, LastTransitionTime: now}
	message, done, err := View(view)
	switch {
	case done:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, stepwisev1alpha1.ReasonRolloutComplete, message
	case err != nil && st.Canary.GetAborted():
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, stepwisev1alpha1.ReasonRolloutAborted, err.Error()
	case err != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, stepwisev1alpha1.ReasonRolloutFailed, err.Error()
	default:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, stepwisev1alpha1.ReasonRolloutInProgress, message
	}
	meta.SetStatusCondition(&st.Conditions, cond)
}

// evaluateProgress is Deployment's syncRolloutStatus: complete, progressing (counters moved
// since the previous status) or timed out.
func evaluateProgress(c *conditions, ro *stepwisev1alpha1.Rollout, previous *stepwisev1alpha1.RolloutStatus, newRS *appsv1.ReplicaSet, replicas int32) {
	if !hasProgressDeadline(ro) {
		meta.RemoveStatusCondition(&c.st.Conditions, stepwisev1alpha1.ConditionProgressing)
		return
	}
	current := c.get(stepwisev1alpha1.ConditionProgressing)
	if c.st.Replicas == c.st.UpdatedReplicas && current != nil && current.Reason == stepwisev1alpha1.ReasonNewReplicaSetAvailable {
		return // complete before, complete still
	}
	subject := fmt.Sprintf("Rollout %q", ro.Name)
	if newRS != nil {
		subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
	}
	switch {
	case Complete(c.st, replicas, ro.Generation):
		c.setProgress(metav1.ConditionTrue, stepwisev1alpha1.ReasonNewReplicaSetAvailable, subject+" has successfully progressed.")
	case progressed(previous, c.st):
		c.setProgress(metav1.ConditionTrue, stepwisev1alpha1.ReasonReplicaSetUpdated, subject+" is progressing.")
	case timedOut(ro, c.st, c.now.Time):
		c.setProgress(metav1.ConditionFalse, stepwisev1alpha1.ReasonProgressDeadlineExceeded, subject+" has timed out progressing.")
	}
}

// Complete reports whether every desired pod runs the current template and is available, with
// nothing else left, for the current generation.
func Complete(st *stepwisev1alpha1.RolloutStatus, replicas int32, generation int64) bool {
	return st.UpdatedReplicas == replicas && st.Replicas == replicas && st.AvailableReplicas == replicas &&
		st.ObservedGeneration >= generation
}

// progressed reports whether the rollout moved: more updated, ready or available pods, or fewer
// old ones.
func progressed(before, after *stepwisev1alpha1.RolloutStatus) bool {
	return after.UpdatedReplicas > before.UpdatedReplicas ||
		after.Replicas-after.UpdatedReplicas < before.Replicas-before.UpdatedReplicas ||
		after.ReadyReplicas > before.ReadyReplicas ||
		after.AvailableReplicas > before.AvailableReplicas
}

func timedOut(ro *stepwisev1alpha1.Rollout, st *stepwisev1alpha1.RolloutStatus, now time.Time) bool {
	cond := meta.FindStatusCondition(st.Conditions, stepwisev1alpha1.ConditionProgressing)
	switch {
	case cond == nil || cond.Reason == stepwisev1alpha1.ReasonNewReplicaSetAvailable:
		return false
	case cond.Reason == stepwisev1alpha1.ReasonProgressDeadlineExceeded:
		return true
	}
	return deadline(ro, st).Before(now)
}

// deadline is when the rollout times out if it makes no more progress.
func deadline(ro *stepwisev1alpha1.Rollout, st *stepwisev1alpha1.RolloutStatus) time.Time {
	var since time.Time
	if st.LastProgressTime != nil {
		since = st.LastProgressTime.Time
	}
	return since.Add(time.Duration(*ro.Spec.ProgressDeadlineSeconds) * time.Second)
}

// hasProgressDeadline: as for a Deployment, an unset or MaxInt32 progressDeadlineSeconds means
// no deadline and no Progressing condition.
func hasProgressDeadline(ro *stepwisev1alpha1.Rollout) bool {
	return ro.Spec.ProgressDeadlineSeconds != nil && *ro.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

// RequeueAfter is when the controller must look again although nothing may change in the
// cluster: at the progress deadline, and after minReadySeconds while ready pods wait to count as
// available. 0 means no timed requeue.
func RequeueAfter(ro *stepwisev1alpha1.Rollout, st *stepwisev1alpha1.RolloutStatus, allRSs []*appsv1.ReplicaSet, replicas int32, now time.Time) time.Duration {
	var after time.Duration
	cond := meta.FindStatusCondition(st.Conditions, stepwisev1alpha1.ConditionProgressing)
	if hasProgressDeadline(ro) && cond != nil && !Complete(st, replicas, ro.Generation) &&
		cond.Reason != stepwisev1alpha1.ReasonProgressDeadlineExceeded && cond.Reason != stepwisev1alpha1.ReasonRolloutPaused {
		// One second past the deadline, so the check that follows sees it passed.
		after = max(deadline(ro, st).Sub(now), 0) + time.Second
	}
	if ro.Spec.MinReadySeconds > 0 {
		for _, rs := range allRSs {
			if rs.Status.ReadyReplicas > rs.Status.AvailableReplicas {
				wait := time.Duration(ro.Spec.MinReadySeconds) * time.Second
				if after == 0 || wait < after {
					after = wait
				}
				break
			}
		}
	}
	return after
}

// MarkInvalidSpec records why the spec cannot be acted on.
func MarkInvalidSpec(ro *stepwisev1alpha1.Rollout, err error, now time.Time) {
	c := conditions{st: &ro.Status, generation: ro.Generation, now: metav1.NewTime(now)}
	c.set(stepwisev1alpha1.ConditionInvalidSpec, metav1.ConditionTrue, stepwisev1alpha1.ReasonInvalidSpec, err.Error())
}

// MarkHeldByDeployment records that a Deployment still controls ReplicaSets the Rollout
// selects, so the Rollout waits (Progressing Unknown). It reports whether the condition
// changed.
func MarkHeldByDeployment(ro *stepwisev1alpha1.Rollout, message string, now time.Time) bool {
	c := conditions{st: &ro.Status, generation: ro.Generation, now: metav1.NewTime(now)}
	return c.set(stepwisev1alpha1.ConditionProgressing, metav1.ConditionUnknown, stepwisev1alpha1.ReasonDeploymentOwnsReplicaSets, message)
}

func setCounters(st *stepwisev1alpha1.RolloutStatus, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, ro *stepwisev1alpha1.Rollout) {
	var specTotal, actual, ready, available int32
	terminating := new(int32)
	for _, rs := range allRSs {
		specTotal += *rs.Spec.Replicas
		actual += rs.Status.Replicas
		ready += rs.Status.ReadyReplicas
		available += rs.Status.AvailableReplicas
		switch {
		case terminating == nil:
		case rs.Status.TerminatingReplicas != nil:
			*terminating += *rs.Status.TerminatingReplicas
		case rs.Status.ObservedGeneration != 0:
			terminating = nil // a ReplicaSet that does not report it: the sum is unknown
		}
	}
	st.Replicas, st.ReadyReplicas, st.AvailableReplicas = actual, ready, available
	st.UpdatedReplicas = 0
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	st.UnavailableReplicas = max(specTotal-available, 0)
	st.TerminatingReplicas = terminating
	if sel, err := metav1.LabelSelectorAsSelector(ro.Spec.Selector); err == nil {
		st.Selector = sel.String()
	}
}

// OnlyCountsChanged reports whether after differs from before only in what setCounters writes
// from the ReplicaSets' statuses and sizes, and in what follows from those counts alone: the
// progress time they moved, the READY column, the Complete condition's wording of them. A
// reconcile computes that difference again from the ReplicaSets' next watch events.
func OnlyCountsChanged(before, after *stepwisev1alpha1.RolloutStatus) bool {
	counted := after.DeepCopy()
	counted.Replicas, counted.UpdatedReplicas = before.Replicas, before.UpdatedReplicas
	counted.ReadyReplicas, counted.AvailableReplicas = before.ReadyReplicas, before.AvailableReplicas
	counted.UnavailableReplicas, counted.TerminatingReplicas = before.UnavailableReplicas, before.TerminatingReplicas
	counted.Ready, counted.LastProgressTime = before.Ready, before.LastProgressTime
	was := meta.FindStatusCondition(before.Conditions, stepwisev1alpha1.ConditionComplete)
	is := meta.FindStatusCondition(counted.Conditions, stepwisev1alpha1.ConditionComplete)
	if was != nil && is != nil && was.Status == is.Status && was.Reason == is.Reason {
		is.Message = was.Message
	}
	return equality.Semantic.DeepEqual(before, counted)
}

// ReplicaSetCountsPending reports whether a ReplicaSet controller's status write that moves the
// counts is on its way, so a change of counts alone may wait for it (OnlyCountsChanged): a
// ReplicaSet's spec is not yet observed, or a scale-down's pods are not yet deleted. Pods yet
// to be created, a ReplicaSet whose controller reports ReplicaFailure, and one being deleted
// hold nothing back: their counts may stay as they are indefinitely. docs/architecture.md
// ("Freshness") says why each case is there.
func ReplicaSetCountsPending(rss []*appsv1.ReplicaSet) bool {
	for _, rs := range rss {
		if rs.Status.ObservedGeneration < rs.Generation {
			return true
		}
		if rs.Status.Replicas > ptr.Deref(rs.Spec.Replicas, 1) && rs.DeletionTimestamp.IsZero() && !failing(rs) {
			return true
		}
	}
	return false
}

// failing reports whether a ReplicaSet's controller last failed to create or delete its pods.
func failing(rs *appsv1.ReplicaSet) bool {
	for _, cond := range rs.Status.Conditions {
		if cond.Type == appsv1.ReplicaSetReplicaFailure && cond.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// copyReplicaFailure mirrors the first ReplicaFailure condition of a ReplicaSet (the new one
// first), or removes it when none has one.
func copyReplicaFailure(c *conditions, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) {
	ordered := allRSs
	if newRS != nil {
		ordered = append([]*appsv1.ReplicaSet{newRS}, allRSs...)
	}
	for _, rs := range ordered {
		for _, cond := range rs.Status.Conditions {
			if cond.Type == appsv1.ReplicaSetReplicaFailure {
				status := metav1.ConditionStatus(cond.Status)
				if cond.Status != corev1.ConditionTrue && cond.Status != corev1.ConditionFalse {
					status = metav1.ConditionUnknown
				}
				c.set(stepwisev1alpha1.ConditionReplicaFailure, status, nonEmpty(cond.Reason, "FailedCreate"), cond.Message)
				return
			}
		}
	}
	meta.RemoveStatusCondition(&c.st.Conditions, stepwisev1alpha1.ConditionReplicaFailure)
}

func nonEmpty(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// conditions sets conditions the way a Deployment does: a condition with the same status and
// reason is left as it is (its message and times too); lastTransitionTime moves only when the
// status flips.
type conditions struct {
	st         *stepwisev1alpha1.RolloutStatus
	generation int64
	now        metav1.Time
}

func (c *conditions) get(t string) *metav1.Condition {
	return meta.FindStatusCondition(c.st.Conditions, t)
}

func (c *conditions) set(t string, status metav1.ConditionStatus, reason, message string) bool {
	if cur := c.get(t); cur != nil && cur.Status == status && cur.Reason == reason {
		cur.ObservedGeneration = c.generation
		return false
	}
	meta.SetStatusCondition(&c.st.Conditions, metav1.Condition{
		Type: t, Status: status, Reason: reason, Message: message,
		ObservedGeneration: c.generation, LastTransitionTime: c.now,
	})
	return true
}

// setProgress sets Progressing and, when it changed (or the rollout moved on, reason
// ReplicaSetUpdated again), restarts the progress deadline.
func (c *conditions) setProgress(status metav1.ConditionStatus, reason, message string) {
	if c.set(stepwisev1alpha1.ConditionProgressing, status, reason, message) || reason == stepwisev1alpha1.ReasonReplicaSetUpdated {
		c.st.LastProgressTime = RoundUpToSecond(c.now.Time)
	}
}

// RoundUpToSecond is t rounded up to a whole second, for a status field a timed wait is
// measured from (or ends at). A metav1.Time keeps only whole seconds once written, so t itself
// would come back truncated and the wait would end up to a second early; rounded up, the field
// reads back as it was written and the wait never ends before it was asked to.
func RoundUpToSecond(t time.Time) *metav1.Time {
	rounded := t.Truncate(time.Second)
	if rounded.Before(t) {
		rounded = rounded.Add(time.Second)
	}
	return &metav1.Time{Time: rounded}
}
