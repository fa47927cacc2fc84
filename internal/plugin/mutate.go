package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// errNothingToWrite ends an update without a write (a dry run, a no-op).
var errNothingToWrite = errors.New("nothing to write")

// restartedAtAnnotation is kubectl rollout restart's template annotation.
const restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// update reads the Rollout, lets change edit it (or refuse), and patches the difference with
// an optimistic lock; on a conflict (the controller writes status all the time) it reads
// again and re-applies the change, so nobody's write is lost.
func (o *Options) update(ctx context.Context, name string, change func(*stepwisev1alpha1.Rollout) error) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c, ro, err := o.getRollout(ctx, name)
		if err != nil {
			return err
		}
		updated := ro.DeepCopy()
		if err := change(updated); err != nil {
			return err
		}
		return c.Patch(ctx, updated, client.MergeFromWithOptions(ro, client.MergeFromWithOptimisticLock{}))
	})
}

func newPauseCmd(o *Options, pause bool) *cobra.Command {
	verb, done := "resume", "resumed"
	if pause {
		verb, done = "pause", "paused"
	}
	return &cobra.Command{
		Use:   verb + " ROLLOUT",
		Short: map[bool]string{true: "Pause a Rollout: no rollout progress until resumed (scaling still applies)", false: "Resume a paused Rollout"}[pause],
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := exactlyOne(args); err != nil {
				return err
			}
			err := o.update(cmd.Context(), args[0], func(ro *stepwisev1alpha1.Rollout) error {
				if ro.Spec.Paused == pause {
					return fmt.Errorf("%s is already %s", objectRef(ro.Name), map[bool]string{true: "paused", false: "resumed"}[pause])
				}
				ro.Spec.Paused = pause
				return nil
			})
			if err == nil {
				fmt.Fprintf(o.Out, "%s %s\n", objectRef(args[0]), done)
			}
			return err
		},
	}
}

func newRestartCmd(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "restart ROLLOUT",
		Short: "Replace every pod through a new revision (a restartedAt template annotation)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := exactlyOne(args); err != nil {
				return err
			}
			err := o.update(cmd.Context(), args[0], func(ro *stepwisev1alpha1.Rollout) error {
				if ro.Spec.Paused {
					return fmt.Errorf("can't restart paused rollout %q (run 'kubectl stepwise resume' first)", ro.Name)
				}
				if ro.Spec.Template.Annotations == nil {
					ro.Spec.Template.Annotations = map[string]string{}
				}
				ro.Spec.Template.Annotations[restartedAtAnnotation] = o.Now().Format("2006-01-02T15:04:05Z07:00")
				return nil
			})
			if err == nil {
				fmt.Fprintf(o.Out, "%s restarted\n", objectRef(args[0]))
			}
			return err
		},
	}
}

func newSetCmd(o *Options) *cobra.Command {
	set := &cobra.Command{Use: "set", Short: "Set fields of a Rollout"}
	image := &cobra.Command{
		Use:     "image ROLLOUT CONTAINER=IMAGE [CONTAINER=IMAGE...]",
		Short:   "Set container images (CONTAINER '*' means every container), recording a change cause",
		Example: `  kubectl stepwise set image hellok8s hellok8s-container=guangzhengli/hellok8s:v2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fmt.Errorf("expected ROLLOUT and at least one CONTAINER=IMAGE, got %d arguments", len(args))
			}
			images, err := parseImages(args[1:])
			if err != nil {
				return err
			}
			name := args[0]
			err = o.update(cmd.Context(), name, func(ro *stepwisev1alpha1.Rollout) error {
				if err := setImages(ro, images); err != nil {
					return err
				}
				if ro.Annotations == nil {
					ro.Annotations = map[string]string{}
				}
				ro.Annotations[stepwisev1alpha1.ChangeCauseAnnotation] = "kubectl stepwise set image " + strings.Join(args, " ")
				return nil
			})
			if err == nil {
				fmt.Fprintf(o.Out, "%s image updated\n", objectRef(name))
			}
			return err
		},
	}
	set.AddCommand(image)
	return set
}

type containerImage struct{ container, image string }

// parseImages checks every CONTAINER=IMAGE argument before anything is changed.
func parseImages(args []string) ([]containerImage, error) {
	var out []containerImage
	for _, arg := range args {
		container, image, ok := strings.Cut(arg, "=")
		if !ok || container == "" || image == "" || strings.ContainsAny(image, " \t") {
			return nil, fmt.Errorf("invalid image argument %q: expected CONTAINER=IMAGE", arg)
		}
		out = append(out, containerImage{container, image})
	}
	return out, nil
}

func setImages(ro *stepwisev1alpha1.Rollout, images []containerImage) error {
	spec := &ro.Spec.Template.Spec
	for _, ci := range images {
		found := false
		// The slices share their arrays with the spec: setting an element sets the spec's.
		for _, containers := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
			for i := range containers {
				if ci.container == "*" || containers[i].Name == ci.container {
					containers[i].Image = ci.image
					found = true
				}
			}
		}
		if !found {
			return fmt.Errorf("unable to find container named %q in rollout %q", ci.container, ro.Name)
		}
	}
	return nil
}
