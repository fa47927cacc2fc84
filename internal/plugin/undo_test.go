package plugin

import (
	"testing"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

func TestUndo(t *testing.T) {
	// rolledBackTo is web after an undo to a revision of threeRevisions: that revision's image
	// and change cause, the Rollout's own bookkeeping kept, a rollback request dropped.
	rolledBackTo := func(image, changeCause string) func(*stepwisev1alpha1.Rollout) {
		return func(ro *stepwisev1alpha1.Rollout) {
			ro.Spec.Template.Spec.Containers[0].Image = image
			ro.Annotations = map[string]string{stepwisev1alpha1.RevisionAnnotation: "3"}
			if changeCause != "" {
				ro.Annotations[stepwisev1alpha1.ChangeCauseAnnotation] = changeCause
			}
		}
	}
	requested := func(ro *stepwisev1alpha1.Rollout) { ro.Annotations[stepwisev1alpha1.RollbackRequestAnnotation] = "1" }
	runVerbCases(t, []verbCase{
		{name: "to the previous revision, whose change cause is none", objs: threeRevisions(), args: []string{"undo", "web"},
			wantOut: "rollout.stepwise.dev/web rolled back\n",
			change:  rolledBackTo("nginx:2", "")},
		{name: "--to-revision restores its change cause", objs: threeRevisions(), args: []string{"undo", "web", "--to-revision=1"},
			wantOut: "rollout.stepwise.dev/web rolled back\n",
			change:  rolledBackTo("nginx:1", "first release")},
		{name: "a pending rollback request is dropped", objs: threeRevisions(requested), args: []string{"undo", "web"},
			wantOut: "rollout.stepwise.dev/web rolled back\n",
			change:  rolledBackTo("nginx:2", "")},
		{name: "a status write in between is kept", objs: threeRevisions(), args: []string{"undo", "web"},
			funcs:   controllerWritesFirst(),
			wantOut: "rollout.stepwise.dev/web rolled back\n",
			change: func(ro *stepwisev1alpha1.Rollout) {
				rolledBackTo("nginx:2", "")(ro)
				ro.Status.Ready = "2/3"
			}},
		{name: "the current revision is skipped", objs: threeRevisions(), args: []string{"undo", "web", "--to-revision=3"},
			wantOut: "rollout.stepwise.dev/web skipped rollback (current template already matches revision 3)\n"},
		{name: "--dry-run prints the revision as history does and changes nothing", objs: threeRevisions(),
			args:    []string{"undo", "web", "--to-revision=1", "--dry-run"},
			wantOut: "rollout \"web\" with revision #1\nReplicaSet: web-nginx1\nChange-cause: first release\nPod Template:\n" + templateYAML("  ", "nginx:1")},
		{name: "--dry-run -o yaml prints the template and changes nothing", objs: threeRevisions(),
			args:    []string{"undo", "web", "--dry-run", "-o", "yaml"},
			wantOut: templateYAML("", "nginx:2")},
		{name: "--dry-run of the current revision prints it too", objs: threeRevisions(),
			args:    []string{"undo", "web", "--to-revision=3", "--dry-run", "-o", "yaml"},
			wantOut: templateYAML("", "nginx:3")},
		{name: "a paused Rollout is refused", objs: threeRevisions(paused), args: []string{"undo", "web"},
			wantErr: `rollout "web": you cannot roll back a paused Rollout; resume it first with 'kubectl stepwise resume' and try again`},
		{name: "an unknown revision changes nothing", objs: threeRevisions(), args: []string{"undo", "web", "--to-revision=7"},
			wantErr: `rollout "web": unable to find specified revision in history: revision 7`},
		{name: "no earlier revision", objs: objects(webRollout()), args: []string{"undo", "web"},
			wantErr: `rollout "web": no rollout history found`},
		{name: "a negative revision", objs: threeRevisions(), args: []string{"undo", "web", "--to-revision=-1"},
			wantErr: "--to-revision must be 0 (the previous revision) or a revision number, got -1"},
		{name: "-o without --dry-run changes nothing", objs: threeRevisions(), args: []string{"undo", "web", "-o", "yaml"},
			wantErr: "--output (-o) goes with --dry-run: it prints the pod template that would be restored"},
		{name: "an unknown output format", objs: threeRevisions(), args: []string{"undo", "web", "--dry-run", "-o", "xml"},
			wantErr: `unable to match a printer for output format "xml": allowed formats are json, yaml`},
		{name: "a missing Rollout", args: []string{"undo", "web"}, wantErr: notFound},
		{name: "no name", args: []string{"undo"}, wantErr: "exactly one ROLLOUT name is required, got 0 arguments"},
	})
}
