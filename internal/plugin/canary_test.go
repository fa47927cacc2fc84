package plugin

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// threeSteps gives web the canary steps 1 pod, 50%, 100%, each with a pause, and one of its
// three pods updated.
func threeSteps(ro *stepwisev1alpha1.Rollout) {
	pause := &stepwisev1alpha1.CanaryPause{}
	ro.Spec.Strategy.RollingUpdate = &stepwisev1alpha1.RollingUpdateRollout{Steps: []stepwisev1alpha1.CanaryStep{
		{Replicas: ptr.To(intstr.FromInt32(1)), Pause: pause}, {Replicas: ptr.To(intstr.FromString("50%")), Pause: pause}, {Replicas: ptr.To(intstr.FromString("100%")), Pause: pause},
	}}
	updated(1, 1)(ro)
}

func blueGreenAwaitingPromotion(ro *stepwisev1alpha1.Rollout) {
	ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.BlueGreenRolloutStrategyType,
		BlueGreen: &stepwisev1alpha1.BlueGreenStrategy{ActiveService: "web"}}
	updated(1, 1)(ro)
}

// atStep records the canary state of web's current template: paused at step since testNow.
func atStep(step int32) func(*stepwisev1alpha1.Rollout) {
	return func(ro *stepwisev1alpha1.Rollout) {
		ro.Status.Canary = &stepwisev1alpha1.CanaryStatus{PodTemplateHash: status.CurrentHash(ro), CurrentStep: step,
			PauseStartTime: &metav1.Time{Time: testNow}}
	}
}

func aborted(ro *stepwisev1alpha1.Rollout) {
	ro.Status.Canary.Aborted, ro.Status.Canary.AbortReason, ro.Status.Canary.PauseStartTime = true, "aborted with kubectl stepwise abort", nil
}

// canaryBecomes is the canary state a verb leaves: step, no pause running.
func canaryBecomes(step int32) func(*stepwisev1alpha1.Rollout) {
	return func(ro *stepwisev1alpha1.Rollout) {
		ro.Status.Canary.CurrentStep, ro.Status.Canary.PauseStartTime = step, nil
	}
}

func TestPromote(t *testing.T) {
	runVerbCases(t, []verbCase{
		{name: "ends the pause and goes on to the next step", objs: objects(webRollout(threeSteps, atStep(0))), args: []string{"promote", "web"},
			wantOut: "rollout.stepwise.dev/web promoted\n",
			change:  canaryBecomes(1)},
		{name: "--full goes past every step", objs: objects(webRollout(threeSteps, atStep(1))), args: []string{"promote", "web", "--full"},
			wantOut: "rollout.stepwise.dev/web promoted\n",
			change:  canaryBecomes(3)},
		{name: "blue-green: past its one step, the switch", objs: objects(webRollout(blueGreenAwaitingPromotion, atStep(0))), args: []string{"promote", "web"},
			wantOut: "rollout.stepwise.dev/web promoted\n",
			change:  canaryBecomes(1)},
		{name: "a status write in between is kept", objs: objects(webRollout(threeSteps, atStep(0))), args: []string{"promote", "web"},
			funcs:   controllerWritesFirst(),
			wantOut: "rollout.stepwise.dev/web promoted\n",
			change: func(ro *stepwisev1alpha1.Rollout) {
				canaryBecomes(1)(ro)
				ro.Status.Ready = "2/3"
			}},
		{name: "no steps", objs: objects(webRollout(updated(1, 1))), args: []string{"promote", "web"},
			wantErr: `rollout "web" has no canary steps to promote (a partition is lowered by editing spec.strategy.rollingUpdate.partition)`},
		{name: "no canary state for the current template yet",
			objs: objects(webRollout(threeSteps, atStep(0), func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Template.Spec.Containers[0].Image = "nginx:2" })),
			args: []string{"promote", "web"}, wantErr: `rollout "web" has no canary state for its current template yet; try again`},
		{name: "a generation the controller has not observed",
			objs: objects(webRollout(threeSteps, atStep(0), func(ro *stepwisev1alpha1.Rollout) { ro.Generation = 2 })),
			args: []string{"promote", "web"}, wantErr: `the controller has not observed generation 2 of rollout "web" yet; try again`},
		{name: "an aborted rollout", objs: objects(webRollout(threeSteps, atStep(1), aborted)), args: []string{"promote", "web"},
			wantErr: `rollout "web" was aborted: run 'kubectl stepwise retry' first`},
		{name: "past the last step", objs: objects(webRollout(threeSteps, atStep(3))), args: []string{"promote", "web"},
			wantErr: `rollout "web" is past its last canary step: nothing to promote`},
		{name: "Recreate", objs: objects(webRollout(recreate)), args: []string{"promote", "web"},
			wantErr: `rollout "web" uses the Recreate strategy: canary steps, abort and retry need RollingUpdate`},
		{name: "a missing Rollout", args: []string{"promote", "web"}, wantErr: notFound},
		{name: "no name", args: []string{"promote"}, wantErr: "exactly one ROLLOUT name is required, got 0 arguments"},
	})
}

// recreate makes web a Recreate Rollout its controller has observed.
func recreate(ro *stepwisev1alpha1.Rollout) {
	ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.RecreateRolloutStrategyType}
	updated(1, 1)(ro)
}

func TestAbort(t *testing.T) {
	runVerbCases(t, []verbCase{
		{name: "marks the canary state aborted at its step", objs: objects(webRollout(threeSteps, atStep(1))), args: []string{"abort", "web"},
			wantOut: "rollout.stepwise.dev/web aborted\n",
			change:  aborted},
		{name: "a rolling update without canary state gets one", objs: objects(webRollout(updated(1, 1))), args: []string{"abort", "web"},
			wantOut: "rollout.stepwise.dev/web aborted\n",
			change: func(ro *stepwisev1alpha1.Rollout) {
				ro.Status.Canary = &stepwisev1alpha1.CanaryStatus{PodTemplateHash: status.CurrentHash(ro), Aborted: true, AbortReason: "aborted with kubectl stepwise abort"}
			}},
		{name: "already aborted", objs: objects(webRollout(threeSteps, atStep(1), aborted)), args: []string{"abort", "web"},
			wantErr: `rollout "web" is already aborted`},
		{name: "a complete rollout", objs: objects(webRollout()), args: []string{"abort", "web"},
			wantErr: `rollout "web" is complete: nothing to abort (use 'kubectl stepwise undo' to go back)`},
		{name: "blue-green", objs: objects(webRollout(blueGreenAwaitingPromotion, atStep(0))), args: []string{"abort", "web"},
			wantErr: `rollout "web" is BlueGreen: the active Service only switches on promotion, and 'kubectl stepwise undo' inside scaleDownDelaySeconds switches it back`},
		{name: "Recreate", objs: objects(webRollout(recreate)), args: []string{"abort", "web"},
			wantErr: `rollout "web" uses the Recreate strategy: canary steps, abort and retry need RollingUpdate`},
		{name: "a missing Rollout", args: []string{"abort", "web"}, wantErr: notFound},
		{name: "a generation the controller has not observed",
			objs: objects(webRollout(threeSteps, atStep(1), func(ro *stepwisev1alpha1.Rollout) { ro.Generation = 2 })),
			args: []string{"abort", "web"}, wantErr: `the controller has not observed generation 2 of rollout "web" yet; try again`},
		{name: "no name", args: []string{"abort"}, wantErr: "exactly one ROLLOUT name is required, got 0 arguments"},
	})
}

func TestRetry(t *testing.T) {
	runVerbCases(t, []verbCase{
		{name: "starts an aborted rollout over from its first step", objs: objects(webRollout(threeSteps, atStep(2), aborted)), args: []string{"retry", "web"},
			wantOut: "rollout.stepwise.dev/web retried\n",
			change: func(ro *stepwisev1alpha1.Rollout) {
				ro.Status.Canary = &stepwisev1alpha1.CanaryStatus{PodTemplateHash: ro.Status.Canary.PodTemplateHash, Attempt: 1}
			}},
		{name: "a rollout that is not aborted", objs: objects(webRollout(threeSteps, atStep(1))), args: []string{"retry", "web"},
			wantErr: `rollout "web" is not aborted: nothing to retry`},
		{name: "a generation the controller has not observed",
			objs: objects(webRollout(threeSteps, atStep(2), aborted, func(ro *stepwisev1alpha1.Rollout) { ro.Generation = 2 })),
			args: []string{"retry", "web"}, wantErr: `the controller has not observed generation 2 of rollout "web" yet; try again`},
		{name: "Recreate", objs: objects(webRollout(recreate)), args: []string{"retry", "web"},
			wantErr: `rollout "web" uses the Recreate strategy: canary steps, abort and retry need RollingUpdate`},
		{name: "a missing Rollout", args: []string{"retry", "web"}, wantErr: notFound},
		{name: "no name", args: []string{"retry", "web", "api"}, wantErr: "exactly one ROLLOUT name is required, got 2 arguments"},
	})
}
