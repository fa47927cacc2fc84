package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
)

func newUndoCmd(o *Options) *cobra.Command {
	var toRevision int64
	var dryRun bool
	var output string
	cmd := &cobra.Command{
		Use:   "undo ROLLOUT",
		Short: "Roll back to the previous (or a given) revision, as kubectl rollout undo does for a Deployment",
		Long: `Restores the pod template and change cause of an earlier revision; the controller then
rolls it out and it becomes the newest revision. A paused Rollout is refused; an unknown
revision is an error that changes nothing.`,
		Example: `  kubectl stepwise undo hellok8s
  kubectl stepwise undo hellok8s --to-revision=2
  kubectl stepwise undo hellok8s --to-revision=2 --dry-run -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := exactlyOne(args); err != nil {
				return err
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			if output != "" && !dryRun {
				return errors.New("--output (-o) goes with --dry-run: it prints the pod template that would be restored")
			}
			if toRevision < 0 {
				return fmt.Errorf("--to-revision must be 0 (the previous revision) or a revision number, got %d", toRevision)
			}
			return o.runUndo(cmd.Context(), args[0], toRevision, dryRun, output)
		},
	}
	cmd.Flags().Int64Var(&toRevision, "to-revision", 0, "The revision to roll back to. Default 0 (the previous revision).")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "Print the pod template that would be restored, change nothing.")
	cmd.Flags().StringVarP(&output, "output", "o", "", "With --dry-run: json or yaml.")
	return cmd
}

func (o *Options) runUndo(ctx context.Context, name string, toRevision int64, dryRun bool, output string) error {
	var rb revision.Rollback
	var target revision.Entry // the revision rolled back to, as history shows it
	err := o.update(ctx, name, func(ro *stepwisev1alpha1.Rollout) error {
		rss, err := replicaSetsOf(ctx, o.client, ro)
		if err != nil {
			return err
		}
		if rb, err = revision.PlanRollback(ro, rss, toRevision); err != nil {
			return fmt.Errorf("rollout %q: %w", name, err)
		}
		target, _ = entryOf(revision.History(rss), rb.Revision)
		if dryRun || rb.Unchanged {
			return errNothingToWrite
		}
		rb.Apply(ro)
		return nil
	})
	switch {
	case errors.Is(err, errNothingToWrite) && dryRun && output != "":
		return printData(o.Out, rb.Template, output)
	case errors.Is(err, errNothingToWrite) && dryRun:
		return printRevision(o.Out, name, target)
	case errors.Is(err, errNothingToWrite):
		fmt.Fprintf(o.Out, "%s skipped rollback (current template already matches revision %d)\n", objectRef(name), rb.Revision)
		return nil
	case err != nil:
		return err
	}
	fmt.Fprintf(o.Out, "%s rolled back\n", objectRef(name))
	return nil
}
