// Package freshness is the Rollout reconciler's one home for "the cache is behind: wait" and
// "this write could only conflict: skip it", in the spirit of the Kubernetes controllers'
// ControllerExpectations. Each reason has a name; a reconcile that meets one ends (or skips the
// write) with a Wait instead of an error, Settle logs it once, and the watch event of the newer
// object brings the Rollout back.
//
// What a Tracker remembers of the controller's own writes is a hint: after a restart it is
// empty, and the write it would have held back is refused or conflicts instead, and is retried.
package freshness

import (
	"context"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// Reason names why a reconcile waits or skips a write.
type Reason string

const (
	// RolloutBehindAPIServer: the cache holds an older version of a Rollout whose plan depends
	// on its status (canary steps, an abort, a blue-green window), or one already deleted. A
	// plan from it would move ReplicaSets the wrong way before its status patch conflicted.
	RolloutBehindAPIServer Reason = "RolloutBehindAPIServer"
	// ReplicaSetBehindOwnScale: a cached ReplicaSet is older than the controller's own last
	// scale of it; a plan from it would be refused (scales hold only for the generation read).
	ReplicaSetBehindOwnScale Reason = "ReplicaSetBehindOwnScale"
	// NewReplicaSetNotCached: the new ReplicaSet exists (its create found it) but the cache has
	// not seen it yet.
	NewReplicaSetNotCached Reason = "NewReplicaSetNotCached"
	// NamespaceTerminating: the namespace refuses new objects; it takes the Rollout with it.
	NamespaceTerminating Reason = "NamespaceTerminating"
	// StatusFromReplacedRollout: the status was computed from the very Rollout version the
	// controller's last status write replaced, so its patch could only conflict.
	StatusFromReplacedRollout Reason = "StatusFromReplacedRollout"
	// CountsPending: only the counts changed, and a ReplicaSet status write that moves them
	// again is on its way (the reconcile scaled, or status.ReplicaSetCountsPending); the
	// counts are written once, when the ReplicaSets report their latest sizes.
	CountsPending Reason = "CountsPending"
	// StatusConflict: the API server holds a newer Rollout than the one the status was
	// computed from; a retry now would read the same stale copy.
	StatusConflict Reason = "StatusConflict"
)

// Wait ends a reconcile, or skips a write, for a named reason, without error.
type Wait struct {
	Reason Reason
	// Cause is the API error that revealed the stale cache, if one did.
	Cause error
}

func (w *Wait) Error() string {
	if w.Cause == nil {
		return "waiting for a fresher cache: " + string(w.Reason)
	}
	return fmt.Sprintf("waiting for a fresher cache: %s: %v", w.Reason, w.Cause)
}

func (w *Wait) Unwrap() error { return w.Cause }

// WaitFor returns a Wait for reason; cause may be nil.
func WaitFor(reason Reason, cause error) error { return &Wait{Reason: reason, Cause: cause} }

// Settle is how a reconcile ends: each Wait among errs is logged once, at V(4) with its
// reason, and dropped; the other errors are returned, joined. Only an error whose chain is a
// single Wait counts as one: a joined error that holds a Wait and a failure is a failure.
func Settle(ctx context.Context, errs ...error) error {
	var remaining []error
	for _, err := range errs {
		if w := waitIn(err); w != nil {
			log := ctrl.LoggerFrom(ctx).V(4)
			if w.Cause != nil {
				log = log.WithValues("cause", w.Cause.Error())
			}
			log.Info("Deferring to a later reconcile", "reason", w.Reason)
			continue
		}
		remaining = append(remaining, err)
	}
	return errors.Join(remaining...)
}

// waitIn returns the Wait that err is, or wraps through single-error wrapping, or nil.
func waitIn(err error) *Wait {
	for ; err != nil; err = errors.Unwrap(err) {
		if w, ok := err.(*Wait); ok {
			return w
		}
	}
	return nil
}

// Tracker remembers the controller's own last writes, to recognize a cache still behind them.
// Safe for concurrent reconciles.
type Tracker struct {
	// replacedByStatusWrite: per Rollout, the resourceVersion its last status write replaced.
	replacedByStatusWrite sync.Map // client.ObjectKey → string
	// scaledGeneration: per ReplicaSet UID, the generation its last scale made.
	scaledGeneration sync.Map // types.UID → int64
}

// CheckRollout waits (RolloutBehindAPIServer) when the API server holds a newer version of a
// Rollout whose plan depends on state recorded in its status. Other Rollouts plan from their
// ReplicaSets alone and skip the read.
func (t *Tracker) CheckRollout(ctx context.Context, apiReader client.Reader, ro *stepwisev1alpha1.Rollout) error {
	recorded := ro.Status.Canary != nil || ro.Status.BlueGreen != nil ||
		ro.Spec.Strategy.Type == stepwisev1alpha1.BlueGreenRolloutStrategyType || len(ro.Spec.Strategy.RollingUpdate.GetSteps()) > 0
	if !recorded {
		return nil
	}
	fresh := &metav1.PartialObjectMetadata{}
	fresh.SetGroupVersionKind(stepwisev1alpha1.GroupVersion.WithKind("Rollout"))
	err := apiReader.Get(ctx, client.ObjectKeyFromObject(ro), fresh)
	switch {
	case apierrors.IsNotFound(err):
		return WaitFor(RolloutBehindAPIServer, err)
	case err != nil:
		return fmt.Errorf("re-reading Rollout: %w", err)
	case fresh.ResourceVersion != ro.ResourceVersion:
		return WaitFor(RolloutBehindAPIServer, nil)
	}
	return nil
}

// CheckReplicaSets waits (ReplicaSetBehindOwnScale) when a cached ReplicaSet is older than the
// controller's own last scale of it, and forgets the scales the cache has caught up with.
func (t *Tracker) CheckReplicaSets(rss []*appsv1.ReplicaSet) error {
	behind := false
	for _, rs := range rss {
		if scaled, ok := t.scaledGeneration.Load(rs.UID); ok {
			if rs.Generation < scaled.(int64) {
				behind = true
			} else {
				t.scaledGeneration.Delete(rs.UID)
			}
		}
	}
	if behind {
		return WaitFor(ReplicaSetBehindOwnScale, nil)
	}
	return nil
}

// Scaled records the controller's scale of a ReplicaSet, as the API server returned it.
func (t *Tracker) Scaled(rs *appsv1.ReplicaSet) { t.scaledGeneration.Store(rs.UID, rs.Generation) }

// CheckStatusWrite decides whether a changed status is worth patching now. It waits
// (CountsPending) when only counts moved and countsPending, and (StatusFromReplacedRollout)
// when before is the version the controller's last status write of it replaced.
func (t *Tracker) CheckStatusWrite(before, after *stepwisev1alpha1.Rollout, countsPending bool) error {
	if countsPending && status.OnlyCountsChanged(&before.Status, &after.Status) {
		return WaitFor(CountsPending, nil)
	}
	key := client.ObjectKeyFromObject(after)
	if replaced, ok := t.replacedByStatusWrite.Load(key); ok {
		if replaced == before.ResourceVersion {
			return WaitFor(StatusFromReplacedRollout, nil)
		}
		t.replacedByStatusWrite.Delete(key) // the cache has moved on
	}
	return nil
}

// StatusWritten records that a status write replaced the Rollout's version replaced.
func (t *Tracker) StatusWritten(key client.ObjectKey, replaced string) {
	t.replacedByStatusWrite.Store(key, replaced)
}

// Forget drops what is remembered of a Rollout that no longer exists.
func (t *Tracker) Forget(key client.ObjectKey) { t.replacedByStatusWrite.Delete(key) }
