package plugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// canaryChange computes a Rollout's next canary state (status.Promote, Abort, Retry).
type canaryChange func(*stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error)

// updateCanary writes a new canary state through the status subresource with an optimistic
// lock, as Argo Rollouts' promote does: one atomic write the controller picks up; on a
// conflict (the controller writes status too) it reads again and recomputes.
func (o *Options) updateCanary(ctx context.Context, name string, change canaryChange) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c, ro, err := o.getRollout(ctx, name)
		if err != nil {
			return err
		}
		next, err := change(ro)
		if err != nil {
			return err
		}
		updated := ro.DeepCopy()
		updated.Status.Canary = next
		return c.Status().Patch(ctx, updated, client.MergeFromWithOptions(ro, client.MergeFromWithOptimisticLock{}))
	})
}

func newCanaryCmd(o *Options, verb, done, short string, change canaryChange) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ROLLOUT",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := exactlyOne(args); err != nil {
				return err
			}
			if err := o.updateCanary(cmd.Context(), args[0], change); err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "%s %s\n", objectRef(args[0]), done)
			return nil
		},
	}
}

func newPromoteCmd(o *Options) *cobra.Command {
	var full bool
	cmd := newCanaryCmd(o, "promote", "promoted", "Go on to the next canary step (ending a pause), or with --full past every step",
		func(ro *stepwisev1alpha1.Rollout) (*stepwisev1alpha1.CanaryStatus, error) {
			return status.Promote(ro, full)
		})
	cmd.Flags().BoolVar(&full, "full", false, "Skip every remaining canary step and roll out to all pods.")
	return cmd
}

func newAbortCmd(o *Options) *cobra.Command {
	return newCanaryCmd(o, "abort", "aborted", "Scale the new revision down and hold the stable one until retry or a new template", status.Abort)
}

func newRetryCmd(o *Options) *cobra.Command {
	return newCanaryCmd(o, "retry", "retried", "Start an aborted rollout over from its first canary step", status.Retry)
}
