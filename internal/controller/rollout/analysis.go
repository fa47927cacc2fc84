package rollout

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/analysis"
	"github.com/stepwise-dev/stepwise/internal/planner"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// +kubebuilder:rbac:groups=stepwise.dev,resources=analysisruns,verbs=create;patch;delete
// +kubebuilder:rbac:groups=stepwise.dev,resources=analysistemplates;clusteranalysistemplates,verbs=get

// analysisRuns are the AnalysisRuns the Rollout controls, from the cache.
func (r *Reconciler) analysisRuns(ctx context.Context, ro *stepwisev1alpha1.Rollout) ([]*stepwisev1alpha1.AnalysisRun, error) {
	list := &stepwisev1alpha1.AnalysisRunList{}
	if err := r.List(ctx, list, client.InNamespace(ro.Namespace), client.MatchingFields{controllerIndex: string(ro.UID)}); err != nil {
		return nil, fmt.Errorf("listing AnalysisRuns: %w", err)
	}
	runs := make([]*stepwisev1alpha1.AnalysisRun, 0, len(list.Items))
	for i := range list.Items {
		runs = append(runs, &list.Items[i])
	}
	return runs, nil
}

// applyAnalysis creates the runs the plan starts and terminates those it stops.
func (r *Reconciler) applyAnalysis(ctx context.Context, ro *stepwisev1alpha1.Rollout, plan *planner.Plan) error {
	for _, start := range plan.StartAnalysis {
		if err := r.startAnalysis(ctx, ro, plan, start); err != nil {
			return err
		}
	}
	for _, ev := range plan.AnalysisEvents {
		r.Recorder.Eventf(ro, nil, ev.Type, ev.Reason, "Analyzing", "%s", ev.Message)
	}
	for _, gone := range plan.DeleteAnalysis {
		if err := r.Delete(ctx, gone, client.Preconditions{UID: &gone.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting AnalysisRun %s: %w", gone.Name, err)
		}
		ctrl.LoggerFrom(ctx).V(2).Info("Deleted analysis of a revision gone from the history", "AnalysisRun", gone.Name)
	}
	for _, stop := range plan.StopAnalysis {
		patch := client.MergeFrom(stop.Run.DeepCopy())
		stop.Run.Spec.Terminate, stop.Run.Spec.TerminateReason, stop.Run.Spec.Skip = true, stop.Reason, stop.Skip
		if err := r.Patch(ctx, stop.Run, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("terminating AnalysisRun %s: %w", stop.Run.Name, err)
		}
		ctrl.LoggerFrom(ctx).V(1).Info("Terminated analysis", "AnalysisRun", stop.Run.Name, "reason", stop.Reason)
	}
	return nil
}

// startAnalysis creates one run from its templates. When the analysis cannot start (a missing
// template, a bad expression) the run is created anyway with the reason in spec.invalid (it
// ends Error with it), so that the next plan holds the rollout with that message.
func (r *Reconciler) startAnalysis(ctx context.Context, ro *stepwisev1alpha1.Rollout, plan *planner.Plan, start planner.AnalysisStart) error {
	if plan.NewRS == nil {
		return nil // its revision is known once the new ReplicaSet exists
	}
	in := analysis.RunInput{
		Rollout: ro, Point: start.Point, Attempt: start.Attempt, Analysis: start.Analysis,
		Revision: revision.Of(plan.NewRS), Hash: status.CurrentHash(ro), StableHash: start.StableHash,
	}
	var unreadable error
	for _, ref := range start.Analysis.Templates {
		spec, err := r.template(ctx, ro.Namespace, ref)
		if apierrors.IsForbidden(err) && unreadable == nil {
			unreadable = &analysis.InvalidAnalysisError{Message: err.Error()}
		} else if err != nil {
			return err
		}
		in.Templates = append(in.Templates, spec)
	}
	run, buildErr := analysis.NewRun(in)
	var invalid *analysis.InvalidAnalysisError
	switch {
	case unreadable != nil:
		run.Spec.Metrics, run.Spec.Args, run.Spec.Invalid, buildErr = nil, nil, unreadable.Error(), unreadable
	case buildErr != nil && !errors.As(buildErr, &invalid):
		return fmt.Errorf("building AnalysisRun: %w", buildErr)
	}
	if err := r.Create(ctx, run); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil // created by an earlier reconcile the cache does not show yet
		}
		return fmt.Errorf("creating AnalysisRun %s: %w", run.Name, err)
	}
	if buildErr != nil {
		r.Recorder.Eventf(ro, run, corev1.EventTypeWarning, stepwisev1alpha1.ReasonInvalidAnalysis, "Analyzing", "Analysis %s cannot start: %s", run.Name, buildErr)
		return nil
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Started analysis", "AnalysisRun", run.Name, "point", start.Point)
	r.Recorder.Eventf(ro, run, corev1.EventTypeNormal, stepwisev1alpha1.EventAnalysisRunning, "Analyzing", "Analysis %s started at %s", run.Name, start.Point)
	return nil
}

// template is the spec of an AnalysisTemplate or ClusterAnalysisTemplate, or nil when it does
// not exist. It reads past the cache: a template is read once per analysis started, not worth
// an informer, and a namespaced install may not read cluster-scoped ones at all (the error is
// then Forbidden).
func (r *Reconciler) template(ctx context.Context, namespace string, ref stepwisev1alpha1.AnalysisTemplateRef) (*stepwisev1alpha1.AnalysisTemplateSpec, error) {
	var obj client.Object
	var spec *stepwisev1alpha1.AnalysisTemplateSpec
	key := client.ObjectKey{Namespace: namespace, Name: ref.TemplateName}
	if ref.ClusterScope {
		t := &stepwisev1alpha1.ClusterAnalysisTemplate{}
		obj, spec, key.Namespace = t, &t.Spec, ""
	} else {
		t := &stepwisev1alpha1.AnalysisTemplate{}
		obj, spec = t, &t.Spec
	}
	switch err := r.APIReader.Get(ctx, key, obj); {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading analysis template %s: %w", ref.TemplateName, err)
	}
	return spec, nil
}
