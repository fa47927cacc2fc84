// Package planner is the pure rollout arithmetic of Stepwise: a Snapshot of a Rollout and its
// ReplicaSets goes in, a Plan of ReplicaSet writes comes out, each step with its reason. It
// reads no clock, calls no API and logs nothing; the reconciler applies what it returns.
//
// The semantics are the Deployment controller's (pkg/controller/deployment): the same
// precedence (paused, then a scaling event, then the strategy), fenceposts, proportional
// scaling and cleanup.
package planner

import (
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// Snapshot is everything the planner may look at. The reconciler builds it from its cache.
type Snapshot struct {
	Rollout *stepwisev1alpha1.Rollout
	// New is the ReplicaSet whose template equals the Rollout's, or nil.
	New *appsv1.ReplicaSet
	// Old are the Rollout's other ReplicaSets.
	Old []*appsv1.ReplicaSet
	// Now is the time of the reconcile; the planner never reads the clock.
	Now time.Time
	// ActiveHash and PreviewHash are the pod-template-hash a BlueGreen Rollout's active and
	// preview Services select ("" when none).
	ActiveHash, PreviewHash string
	// AnalysisRuns are the Rollout's AnalysisRuns.
	AnalysisRuns []*stepwisev1alpha1.AnalysisRun
	// NewRevisionPods are the new revision's pods, read only for a Rollout with abortOn.
	NewRevisionPods []corev1.Pod
}

// All returns the old ReplicaSets and the new one, when there is one.
func (s Snapshot) All() []*appsv1.ReplicaSet {
	all := slices.Clone(s.Old)
	if s.New != nil {
		all = append(all, s.New)
	}
	return all
}

// withReplicaSets returns s with each ReplicaSet replaced by what replace returns for it.
func (s Snapshot) withReplicaSets(replace func(*appsv1.ReplicaSet) *appsv1.ReplicaSet) Snapshot {
	out := s
	out.Old = nil
	for _, rs := range s.Old {
		out.Old = append(out.Old, replace(rs))
	}
	if s.New != nil {
		out.New = replace(s.New)
	}
	return out
}

// Plan is what the reconciler applies, in order: create or update the new ReplicaSet, scale,
// delete.
type Plan struct {
	// RollsForward is set when the strategy moves the rollout forward, so its status evaluates
	// the Progressing condition too; a paused Rollout or a scaling event updates counters and
	// availability only, as the Deployment controller's sync does.
	RollsForward bool
	// Params are the Rollout's resolved sizes the plan was made for.
	Params Params
	// CreateNew is the ReplicaSet of a new revision to create, replicas already set.
	CreateNew *appsv1.ReplicaSet
	// UpdateNew is the existing new ReplicaSet with its annotations or minReadySeconds brought
	// up to date, when they changed.
	UpdateNew *appsv1.ReplicaSet
	// Scale lists the replica changes, in the order they must be applied.
	Scale []ScaleStep
	// Delete lists old ReplicaSets that revisionHistoryLimit lets go.
	Delete []*appsv1.ReplicaSet
	// NewRS and AllRSs are the ReplicaSets as they will be once the plan is applied (NewRS is
	// nil when none exists yet); status is computed from them.
	NewRS  *appsv1.ReplicaSet
	AllRSs []*appsv1.ReplicaSet
	// Target is how many pods the new revision may have now.
	Target int32
	// Canary is the canary step and abort state to record for the current revision.
	Canary *stepwisev1alpha1.CanaryStatus
	// Hold says why the rollout waits for a person (a canary pause, a partition, an abort, a
	// blue-green promotion), or is nil.
	Hold *status.Hold
	// RequeueAfter is when a timed pause or a blue-green scale-down delay ends (0: none).
	RequeueAfter time.Duration
	// Services are the Service selectors a BlueGreen rollout switches, preview first.
	Services []ServiceSwitch
	// BlueGreen is the scale-down window to record.
	BlueGreen *stepwisev1alpha1.BlueGreenStatus
	// StartAnalysis are the analysis runs to create; StopAnalysis those to terminate;
	// DeleteAnalysis the ended ones whose revision left the history.
	StartAnalysis  []AnalysisStart
	StopAnalysis   []AnalysisStop
	DeleteAnalysis []*stepwisev1alpha1.AnalysisRun
	// AnalysisEvents report analysis outcomes the plan acts on.
	AnalysisEvents []AnalysisEvent
	// AbortEvent is the reason of the event that reports an abort this plan decided
	// (EventAnalysisFailed, EventPodUnhealthy), or "".
	AbortEvent string
}

// ScaleStep sets a ReplicaSet's replicas and records the Rollout's size on it.
type ScaleStep struct {
	ReplicaSet string
	From, To   int32
	// DesiredReplicas and MaxReplicas are written to the ReplicaSet's annotations, for
	// proportional scaling later.
	DesiredReplicas, MaxReplicas int32
	// Reason says why, for logs and tests.
	Reason string
}

// Direction is "up" or "down", as the Rollout's events word it.
func (s ScaleStep) Direction() string {
	if s.To > s.From {
		return "up"
	}
	return "down"
}

// StatusInput is what status.Compute needs to know of this plan.
func (p Plan) StatusInput(ro *stepwisev1alpha1.Rollout, created bool, now time.Time) status.Input {
	return status.Input{
		Rollout: ro, Replicas: p.Params.Replicas, MaxUnavailable: p.Params.MaxUnavailable,
		NewRS: p.NewRS, AllRSs: p.AllRSs, CreatedNewRS: created,
		EvaluateProgress: p.RollsForward, Now: now, Canary: p.Canary, Hold: p.Hold, BlueGreen: p.BlueGreen,
	}
}

// For plans one reconcile of s.Rollout.
func For(s Snapshot) (Plan, error) {
	params, err := Resolve(s.Rollout)
	if err != nil {
		return Plan{}, err
	}
	p := newPlanning(s, params)
	switch {
	case s.Rollout.Spec.Paused:
		p.sync()
	case params.Strategy == stepwisev1alpha1.BlueGreenRolloutStrategyType:
		p.blueGreen() // both revisions run at full size: a resize is just the next plan
	case p.isScalingEvent():
		p.sync()
	case params.Strategy == stepwisev1alpha1.RecreateRolloutStrategyType:
		p.plan.Canary, p.plan.BlueGreen = nil, nil
		p.recreate()
	default:
		p.plan.BlueGreen = nil
		p.rolling()
	}
	p.stopAnalyses()
	return p.result(), nil
}

// planning holds working copies of the ReplicaSets; planned steps are applied to them so that
// later decisions in the same reconcile see earlier ones, as Deployment's sequence of writes
// does.
type planning struct {
	s      Snapshot
	params Params
	plan   Plan
	newRS  *appsv1.ReplicaSet
	oldRSs []*appsv1.ReplicaSet // oldest first
	// target is how many pods the new revision may have now: replicas, unless a canary
	// step, a partition or an abort keeps some on older revisions.
	target int32
	// progressPlanned is set once planProgress decided where the rollout stands, so that the
	// analysis runs it did not ask for may be stopped.
	progressPlanned bool
	// wantedAnalysis are the analysis points planProgress looked at.
	wantedAnalysis map[string]bool
}

func newPlanning(s Snapshot, params Params) *planning {
	p := &planning{s: s, params: params, target: params.Replicas, wantedAnalysis: map[string]bool{},
		plan: Plan{Params: params, Canary: s.Rollout.Status.Canary.DeepCopy(), BlueGreen: s.Rollout.Status.BlueGreen.DeepCopy()}}
	if s.New != nil {
		p.newRS = s.New.DeepCopy()
	}
	for _, rs := range s.Old {
		p.oldRSs = append(p.oldRSs, rs.DeepCopy())
	}
	slices.SortStableFunc(p.oldRSs, revision.CompareByAge)
	return p
}

func (p *planning) result() Plan {
	p.plan.Target = p.target
	p.plan.NewRS = p.newRS
	p.plan.AllRSs = p.allRSs()
	return p.plan
}

func (p *planning) allRSs() []*appsv1.ReplicaSet {
	all := slices.Clone(p.oldRSs)
	if p.newRS != nil {
		all = append(all, p.newRS)
	}
	return all
}

// scale records a step that sets rs to `to` replicas. Without force it does nothing when the
// size is already right; with force (proportional scaling) it still refreshes the size
// annotations. It does not scale down a ReplicaSet still creating pods (stillCreating). It
// reports whether the size changes.
func (p *planning) scale(rs *appsv1.ReplicaSet, to int32, force bool, reason string) bool {
	from := *rs.Spec.Replicas
	if to < from && p.stillCreating(rs) {
		return false
	}
	desired, maxReplicas := p.params.Replicas, p.params.Replicas+p.params.MaxSurge
	if from == to && (!force || !sizeAnnotationsNeedUpdate(rs, desired, maxReplicas)) {
		return false
	}
	p.plan.Scale = append(p.plan.Scale, ScaleStep{
		ReplicaSet: rs.Name, From: from, To: to,
		DesiredReplicas: desired, MaxReplicas: maxReplicas, Reason: reason,
	})
	*rs.Spec.Replicas = to
	setSizeAnnotations(rs, desired, maxReplicas)
	return from != to
}

// syncNewReplicaSet brings the existing new ReplicaSet's annotations (revision, copied
// Rollout annotations) and minReadySeconds up to date, or, when create is set and there is no
// new ReplicaSet, plans its creation.
func (p *planning) syncNewReplicaSet(create bool) {
	newRevision := revision.Max(p.oldRSs) + 1
	ro := p.s.Rollout
	if p.newRS != nil {
		changed := revision.SetNewReplicaSetAnnotations(ro.Annotations, p.newRS, newRevision)
		if p.newRS.Spec.MinReadySeconds != ro.Spec.MinReadySeconds {
			p.newRS.Spec.MinReadySeconds = ro.Spec.MinReadySeconds
			changed = true
		}
		if changed {
			p.plan.UpdateNew = p.newRS.DeepCopy()
		}
		return
	}
	if !create {
		return
	}
	rs := NewReplicaSet(ro)
	*rs.Spec.Replicas = p.roomToGrow(p.target)
	revision.SetNewReplicaSetAnnotations(ro.Annotations, rs, newRevision)
	setSizeAnnotations(rs, p.params.Replicas, p.params.Replicas+p.params.MaxSurge)
	p.plan.CreateNew = rs.DeepCopy()
	p.newRS = rs
}

// NewReplicaSet is the ReplicaSet of the Rollout's current template (with 0 replicas): named
// <rollout>-<hash>, the hash label added to its labels, selector and template, controlled by
// the Rollout.
func NewReplicaSet(ro *stepwisev1alpha1.Rollout) *appsv1.ReplicaSet {
	hash := revision.ComputeHash(&ro.Spec.Template, ro.Status.CollisionCount)
	template := ro.Spec.Template.DeepCopy()
	template.Labels = withLabel(template.Labels, stepwisev1alpha1.PodTemplateHashLabel, hash)
	selector := ro.Spec.Selector.DeepCopy()
	selector.MatchLabels = withLabel(selector.MatchLabels, stepwisev1alpha1.PodTemplateHashLabel, hash)
	replicas := int32(0)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ro.Name + "-" + hash,
			Namespace:       ro.Namespace,
			Labels:          template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, stepwisev1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        &replicas,
			MinReadySeconds: ro.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        *template,
		},
	}
}

// cleanup plans the deletion of old ReplicaSets beyond revisionHistoryLimit.
func (p *planning) cleanup() {
	if limit := p.s.Rollout.Spec.RevisionHistoryLimit; limit != nil {
		p.plan.Delete = revision.ToPrune(p.oldRSs, *limit)
	}
}

// completeBeforeThisSync is Deployment's DeploymentComplete on the status written by the
// previous reconcile: every desired pod updated and available, nothing else left.
func (p *planning) completeBeforeThisSync() bool {
	ro := p.s.Rollout
	st := ro.Status
	return st.UpdatedReplicas == p.params.Replicas && st.Replicas == p.params.Replicas &&
		st.AvailableReplicas == p.params.Replicas && st.ObservedGeneration >= ro.Generation
}

func withLabel(labels map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		out[k] = v
	}
	out[key] = value
	return out
}

// Earliest is the sooner of two requeue delays, where 0 means none.
func Earliest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}
