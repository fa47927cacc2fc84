package plugin

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// controllerWritesFirst makes the controller write the Rollout's status between the verb's read
// and its first write, so that write meets a conflict; the verb must read again and keep both.
func controllerWritesFirst() interceptor.Funcs {
	written := false
	controllerWrite := func(ctx context.Context, c client.WithWatch) error {
		if written {
			return nil
		}
		written = true
		ro := &stepwisev1alpha1.Rollout{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: "web"}, ro); err != nil {
			return err
		}
		ro.Status.Ready = "2/3"
		return c.Status().Update(ctx, ro)
	}
	return interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if err := controllerWrite(ctx, c); err != nil {
				return err
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, subResource string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if err := controllerWrite(ctx, c.(client.WithWatch)); err != nil {
				return err
			}
			return c.SubResource(subResource).Patch(ctx, obj, patch, opts...)
		},
	}
}

const notFound = `rollouts.stepwise.dev "web" not found`

func TestPauseAndResume(t *testing.T) {
	runVerbCases(t, []verbCase{
		{name: "pause sets spec.paused", objs: objects(webRollout()), args: []string{"pause", "web"},
			wantOut: "rollout.stepwise.dev/web paused\n",
			change:  paused},
		{name: "resume clears spec.paused", objs: objects(webRollout(paused)), args: []string{"resume", "web"},
			wantOut: "rollout.stepwise.dev/web resumed\n",
			change:  func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Paused = false }},
		{name: "a status write in between is kept", objs: objects(webRollout()), args: []string{"pause", "web"},
			funcs:   controllerWritesFirst(),
			wantOut: "rollout.stepwise.dev/web paused\n",
			change:  func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Paused, ro.Status.Ready = true, "2/3" }},
		{name: "pausing a paused Rollout is an error", objs: objects(webRollout(paused)), args: []string{"pause", "web"},
			wantErr: "rollout.stepwise.dev/web is already paused"},
		{name: "resuming a running Rollout is an error", objs: objects(webRollout()), args: []string{"resume", "web"},
			wantErr: "rollout.stepwise.dev/web is already resumed"},
		{name: "a missing Rollout", args: []string{"pause", "web"}, wantErr: notFound},
		{name: "no name", objs: objects(webRollout()), args: []string{"resume"},
			wantErr: "exactly one ROLLOUT name is required, got 0 arguments"},
	})
}

func TestRestart(t *testing.T) {
	const restartedAt = "2026-03-01T12:00:00Z" // testNow
	runVerbCases(t, []verbCase{
		{name: "restart stamps the template", objs: objects(webRollout()), args: []string{"restart", "web"},
			wantOut: "rollout.stepwise.dev/web restarted\n",
			change: func(ro *stepwisev1alpha1.Rollout) {
				ro.Spec.Template.Annotations = map[string]string{restartedAtAnnotation: restartedAt}
			}},
		{name: "a second restart replaces the stamp and keeps other annotations",
			objs: objects(webRollout(func(ro *stepwisev1alpha1.Rollout) {
				ro.Spec.Template.Annotations = map[string]string{restartedAtAnnotation: "2026-01-01T00:00:00Z", "team": "shop"}
			})),
			args:    []string{"restart", "web"},
			wantOut: "rollout.stepwise.dev/web restarted\n",
			change: func(ro *stepwisev1alpha1.Rollout) {
				ro.Spec.Template.Annotations = map[string]string{restartedAtAnnotation: restartedAt, "team": "shop"}
			}},
		{name: "a paused Rollout is refused", objs: objects(webRollout(paused)), args: []string{"restart", "web"},
			wantErr: `can't restart paused rollout "web" (run 'kubectl stepwise resume' first)`},
		{name: "a missing Rollout", args: []string{"restart", "web"}, wantErr: notFound},
		{name: "two names", objs: objects(webRollout()), args: []string{"restart", "web", "api"},
			wantErr: "exactly one ROLLOUT name is required, got 2 arguments"},
	})
}

func TestSetImage(t *testing.T) {
	withInit := func(ro *stepwisev1alpha1.Rollout) {
		ro.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "migrate:1"}}
	}
	changeCause := func(cause string) func(*stepwisev1alpha1.Rollout) {
		return func(ro *stepwisev1alpha1.Rollout) {
			if ro.Annotations == nil {
				ro.Annotations = map[string]string{}
			}
			ro.Annotations[stepwisev1alpha1.ChangeCauseAnnotation] = cause
		}
	}
	image := func(container int, image string) func(*stepwisev1alpha1.Rollout) {
		return func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Template.Spec.Containers[container].Image = image }
	}
	both := func(changes ...func(*stepwisev1alpha1.Rollout)) func(*stepwisev1alpha1.Rollout) {
		return func(ro *stepwisev1alpha1.Rollout) {
			for _, change := range changes {
				change(ro)
			}
		}
	}
	runVerbCases(t, []verbCase{
		{name: "one container, the command as change cause", objs: objects(webRollout()),
			args:    []string{"set", "image", "web", "web=nginx:2"},
			wantOut: "rollout.stepwise.dev/web image updated\n",
			change:  both(image(0, "nginx:2"), changeCause("kubectl stepwise set image web web=nginx:2"))},
		{name: "several containers, replacing the change cause", objs: objects(webRollout(changeCause("first release"))),
			args:    []string{"set", "image", "web", "web=nginx:2", "sidecar=envoy:2"},
			wantOut: "rollout.stepwise.dev/web image updated\n",
			change:  both(image(0, "nginx:2"), image(1, "envoy:2"), changeCause("kubectl stepwise set image web web=nginx:2 sidecar=envoy:2"))},
		{name: "* is every container, init containers too", objs: objects(webRollout(withInit)),
			args:    []string{"set", "image", "web", "*=busybox:1"},
			wantOut: "rollout.stepwise.dev/web image updated\n",
			change: both(image(0, "busybox:1"), image(1, "busybox:1"), changeCause("kubectl stepwise set image web *=busybox:1"),
				func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Template.Spec.InitContainers[0].Image = "busybox:1" })},
		{name: "an init container by name", objs: objects(webRollout(withInit)),
			args:    []string{"set", "image", "web", "migrate=migrate:2"},
			wantOut: "rollout.stepwise.dev/web image updated\n",
			change: both(changeCause("kubectl stepwise set image web migrate=migrate:2"),
				func(ro *stepwisev1alpha1.Rollout) { ro.Spec.Template.Spec.InitContainers[0].Image = "migrate:2" })},
		{name: "an unknown container changes nothing, not even the known ones", objs: objects(webRollout()),
			args:    []string{"set", "image", "web", "web=nginx:2", "nope=nginx:2"},
			wantErr: `unable to find container named "nope" in rollout "web"`},
		{name: "an argument without CONTAINER=", objs: objects(webRollout()),
			args:    []string{"set", "image", "web", "nginx:2"},
			wantErr: `invalid image argument "nginx:2": expected CONTAINER=IMAGE`},
		{name: "no image", objs: objects(webRollout()), args: []string{"set", "image", "web"},
			wantErr: "expected ROLLOUT and at least one CONTAINER=IMAGE, got 1 arguments"},
		{name: "a missing Rollout", args: []string{"set", "image", "web", "web=nginx:2"}, wantErr: notFound},
	})
}
