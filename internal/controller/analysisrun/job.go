package analysisrun

import (
	"context"
	"fmt"
	"hash/fnv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// jobName is the Job of a metric's n-th measurement (n from 1): the same name every time, so
// that a restarted controller finds the Job it started instead of starting a second one. The
// Job controller puts the name in a label, so it keeps to 63 characters.
func jobName(run *stepwisev1alpha1.AnalysisRun, metric string, n int32) string {
	name := fmt.Sprintf("%s-%s-%d", run.Name, metric, n)
	if len(name) <= 63 {
		return name
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return fmt.Sprintf("%s-%x", name[:46], h.Sum64())
}

// startJob creates the measurement's Job, owned by the run; one that already exists (created
// before a restart) is the measurement's.
func (r *Reconciler) startJob(ctx context.Context, run *stepwisev1alpha1.AnalysisRun, m *stepwisev1alpha1.JobMetric, name string) error {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: run.Namespace,
			Labels: m.Metadata.Labels, Annotations: m.Metadata.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(run, stepwisev1alpha1.GroupVersion.WithKind("AnalysisRun"))},
		},
		Spec: *m.Spec.DeepCopy(),
	}
	err := r.Create(ctx, job)
	switch {
	case err == nil:
		return nil
	case apierrors.IsAlreadyExists(err):
		existing := &batchv1.Job{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(job), existing); err != nil {
			return fmt.Errorf("reading Job %s: %w", name, err)
		}
		if !metav1.IsControlledBy(existing, run) {
			return &jobRefused{fmt.Errorf("job %s exists and belongs to someone else", name)}
		}
		return nil // started before a restart
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err):
		return &jobRefused{fmt.Errorf("creating Job %s: %w", name, err)}
	}
	return fmt.Errorf("creating Job %s: %w", name, err)
}

// jobRefused is a Job the API server will not create as it is (an invalid spec, a quota, a
// name taken): a measurement error, not a reason to retry the reconcile.
type jobRefused struct{ error }

func (e *jobRefused) Unwrap() error { return e.error }

// jobOutcome reads a measurement's Job: Successful once complete, Failed once failed, "" while
// it runs. A Job that is gone is an error of the measurement.
func (r *Reconciler) jobOutcome(ctx context.Context, namespace, name string) (stepwisev1alpha1.AnalysisPhase, string, error) {
	job := &batchv1.Job{}
	key := client.ObjectKey{Namespace: namespace, Name: name}
	err := r.Get(ctx, key, job)
	if apierrors.IsNotFound(err) {
		// The cache may not show a Job created moments ago: ask the API server.
		err = r.APIReader.Get(ctx, key, job)
	}
	switch {
	case apierrors.IsNotFound(err):
		return stepwisev1alpha1.AnalysisPhaseError, fmt.Sprintf("Job %s is gone", name), nil
	case err != nil:
		return "", "", fmt.Errorf("reading Job %s: %w", name, err)
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return stepwisev1alpha1.AnalysisPhaseSuccessful, fmt.Sprintf("Job %s completed", name), nil
		case batchv1.JobFailed:
			return stepwisev1alpha1.AnalysisPhaseFailed, fmt.Sprintf("Job %s failed: %s: %s", name, c.Reason, c.Message), nil
		}
	}
	return "", "", nil
}

// deleteJob stops a measurement's Job and its pods.
func (r *Reconciler) deleteJob(ctx context.Context, namespace, name string) error {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	err := r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting Job %s: %w", name, err)
	}
	return nil
}

// trimForeignJob keeps only the metadata of Jobs no AnalysisRun owns: the controller reads
// its own Jobs' conditions, and nothing of anyone else's.
func trimForeignJob(obj any) (any, error) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return obj, nil
	}
	if ref := metav1.GetControllerOf(job); ref != nil && ref.APIVersion == stepwisev1alpha1.GroupVersion.String() && ref.Kind == "AnalysisRun" {
		job.ManagedFields = nil
		return job, nil
	}
	return &batchv1.Job{TypeMeta: job.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: job.Name, Namespace: job.Namespace, UID: job.UID, ResourceVersion: job.ResourceVersion,
		OwnerReferences: job.OwnerReferences}}, nil
}
