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
	if err := r.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Job %s: %w", name, err)
	}
	return nil
}

// jobOutcome reads a measurement's Job: Successful once complete, Failed once failed, "" while
// it runs. A Job that is gone is an error of the measurement.
func (r *Reconciler) jobOutcome(ctx context.Context, namespace, name string) (stepwisev1alpha1.AnalysisPhase, string, error) {
	job := &batchv1.Job{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, job); err != nil {
		if apierrors.IsNotFound(err) {
			return stepwisev1alpha1.AnalysisPhaseError, fmt.Sprintf("Job %s is gone", name), nil
		}
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
