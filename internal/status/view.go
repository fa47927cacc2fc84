package status

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// View is kubectl rollout status for a Rollout: the same rules and messages as for a
// Deployment. It returns a message, whether the rollout is done, and an error when it failed.
// The plugin's status command and the Complete condition share it.
func View(ro *stepwisev1alpha1.Rollout) (message string, done bool, err error) {
	if ro.Generation > ro.Status.ObservedGeneration {
		return "Waiting for rollout spec update to be observed...", false, nil
	}
	st := &ro.Status
	if cond := meta.FindStatusCondition(st.Conditions, stepwisev1alpha1.ConditionInvalidSpec); cond != nil && cond.Status == "True" {
		return "", false, fmt.Errorf("rollout %q has an invalid spec: %s", ro.Name, cond.Message)
	}
	if cond := meta.FindStatusCondition(st.Conditions, stepwisev1alpha1.ConditionProgressing); cond != nil && cond.Reason == stepwisev1alpha1.ReasonProgressDeadlineExceeded {
		return "", false, fmt.Errorf("rollout %q exceeded its progress deadline", ro.Name)
	}
	if cond := meta.FindStatusCondition(st.Conditions, stepwisev1alpha1.ConditionPaused); cond != nil && cond.Status == "True" {
		if cond.Reason == stepwisev1alpha1.ReasonRolloutAborted {
			return "", false, fmt.Errorf("rollout %q was aborted: %s", ro.Name, cond.Message)
		}
		if cond.Reason != stepwisev1alpha1.ReasonRolloutPaused {
			return fmt.Sprintf("Waiting for rollout %q: %s...", ro.Name, cond.Message), false, nil
		}
	}
	replicas := int32(1)
	if ro.Spec.Replicas != nil {
		replicas = *ro.Spec.Replicas
	}
	switch {
	case st.UpdatedReplicas < replicas:
		return fmt.Sprintf("Waiting for rollout %q to finish: %d out of %d new replicas have been updated...", ro.Name, st.UpdatedReplicas, replicas), false, nil
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for rollout %q to finish: %d old replicas are pending termination...", ro.Name, st.Replicas-st.UpdatedReplicas), false, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for rollout %q to finish: %d of %d updated replicas are available...", ro.Name, st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("rollout %q successfully rolled out", ro.Name), true, nil
}
