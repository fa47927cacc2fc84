package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/status"
)

func newStatusCmd(o *Options) *cobra.Command {
	var watchFlag bool
	var timeout time.Duration
	var revision int64
	cmd := &cobra.Command{
		Use:   "status ROLLOUT",
		Short: "Wait for a Rollout's rollout to finish, as kubectl rollout status does for a Deployment",
		Long: `Shows the status of the rollout and, with --watch (the default), waits until it is
complete: exit code 0 once every desired pod runs the current template and is available;
non-zero when the progress deadline is exceeded, the spec is invalid, or --timeout passes.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := exactlyOne(args); err != nil {
				return err
			}
			return o.runStatus(cmd.Context(), args[0], watchFlag, timeout, revision)
		},
	}
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", true, "Watch the status of the rollout until it's done.")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "The length of time to wait before ending watch, zero means never.")
	cmd.Flags().Int64Var(&revision, "revision", 0, "Pin to a specific revision for showing its status. Defaults to 0 (last revision).")
	return cmd
}

func (o *Options) runStatus(ctx context.Context, name string, watchUntilDone bool, timeout time.Duration, revision int64) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	c, ro, err := o.getRollout(ctx, name)
	if err != nil {
		return err
	}
	last := ""
	// report prints the status when it changed and says whether waiting is over.
	report := func(ro *stepwisev1alpha1.Rollout) (bool, error) {
		if revision > 0 && ro.Status.ObservedGeneration >= ro.Generation && ro.Status.CurrentRevision != revision {
			return true, fmt.Errorf("desired revision (%d) is different from the running revision (%d)", revision, ro.Status.CurrentRevision)
		}
		msg, done, err := status.View(ro)
		if err != nil {
			return true, err
		}
		if msg != last {
			fmt.Fprintln(o.Out, msg)
			last = msg
		}
		return done || !watchUntilDone, nil
	}
	if over, err := report(ro); over || err != nil {
		return err
	}
	// Watch from the version just read; a closed watch (server timeout) resumes from the last
	// version seen.
	resourceVersion := ro.ResourceVersion
	for {
		w, err := c.Watch(ctx, &stepwisev1alpha1.RolloutList{}, &client.ListOptions{
			Namespace:     ro.Namespace,
			FieldSelector: fields.OneTermEqualSelector("metadata.name", name),
			Raw:           &metav1.ListOptions{ResourceVersion: resourceVersion},
		})
		if err != nil {
			return timeoutError(ctx, err)
		}
		over, err := o.consume(ctx, w, report, &resourceVersion)
		w.Stop()
		if over || err != nil {
			return err
		}
	}
}

func (o *Options) consume(ctx context.Context, w watch.Interface, report func(*stepwisev1alpha1.Rollout) (bool, error), resourceVersion *string) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return true, timeoutError(ctx, ctx.Err())
		case ev, open := <-w.ResultChan():
			if !open {
				return false, nil
			}
			switch ev.Type {
			case watch.Deleted:
				return true, errors.New("the Rollout was deleted")
			case watch.Error:
				// Usually 410 Gone: the version is too old to resume from, and would be
				// forever. A watch without a version first sends the current state.
				*resourceVersion = ""
				return false, nil
			}
			ro, ok := ev.Object.(*stepwisev1alpha1.Rollout)
			if !ok {
				continue
			}
			*resourceVersion = ro.ResourceVersion
			if over, err := report(ro); over || err != nil {
				return true, err
			}
		}
	}
}

func timeoutError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errors.New("timed out waiting for the condition")
	}
	return err
}
