package planner

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// unhealthyNewPod says which pod of the new revision meets spec.abortOn, and how; "" when
// none does. Only pods of the new revision count: an old revision's crash-looping pod is not
// this rollout's doing.
//
//	abortOn {restarts: 3}, a new pod's container restarted 4 times → abort
//	abortOn {waitingReasons: [CrashLoopBackOff]}, a container waiting in CrashLoopBackOff → abort
func (p *planning) unhealthyNewPod() string {
	abortOn := p.s.Rollout.Spec.AbortOn
	if abortOn == nil || p.newRS == nil {
		return ""
	}
	hash := p.newRS.Labels[stepwisev1alpha1.PodTemplateHashLabel]
	for i := range p.s.NewRevisionPods {
		pod := &p.s.NewRevisionPods[i]
		if pod.Labels[stepwisev1alpha1.PodTemplateHashLabel] != hash || pod.DeletionTimestamp != nil {
			continue
		}
		for _, c := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
			if problem := containerProblem(abortOn, c); problem != "" {
				return fmt.Sprintf("pod %s of the new revision: container %s %s", pod.Name, c.Name, problem)
			}
		}
	}
	return ""
}

func containerProblem(abortOn *stepwisev1alpha1.AbortOn, c corev1.ContainerStatus) string {
	if w := c.State.Waiting; w != nil && slices.Contains(abortOn.WaitingReasons, w.Reason) {
		return fmt.Sprintf("is waiting: %s", w.Reason)
	}
	if abortOn.Restarts != nil && c.RestartCount > *abortOn.Restarts {
		return fmt.Sprintf("restarted %d times (abortOn.restarts: %d)", c.RestartCount, *abortOn.Restarts)
	}
	return ""
}
