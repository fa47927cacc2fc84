// Package plugin is the kubectl-stepwise plugin: each verb's flags and logic. It shares the
// pure revision and status packages with the controller, so they cannot disagree.
package plugin

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// Options are what every verb shares: kubectl's connection flags, the streams, a client.
type Options struct {
	ConfigFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
	// Now is the clock (restart stamps it); tests may replace it.
	Now func() time.Time

	client client.WithWatch
}

// NewCmd builds `kubectl stepwise` with its verbs.
func NewCmd(streams genericiooptions.IOStreams) *cobra.Command {
	return newRootCmd(&Options{ConfigFlags: genericclioptions.NewConfigFlags(true), IOStreams: streams, Now: time.Now})
}

// newRootCmd builds the command tree on o; tests give it an Options holding a fake client.
func newRootCmd(o *Options) *cobra.Command {
	root := &cobra.Command{
		Use:           "kubectl-stepwise",
		Short:         "Manage Stepwise Rollouts: status, history, undo, pause, resume, restart, set image, get, promote, abort, retry, migrate",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(o.Out)
	root.SetErr(o.ErrOut)
	o.ConfigFlags.AddFlags(root.PersistentFlags())
	root.AddCommand(newStatusCmd(o), newHistoryCmd(o), newUndoCmd(o), newPauseCmd(o, true), newPauseCmd(o, false),
		newRestartCmd(o), newSetCmd(o), newGetCmd(o), newPromoteCmd(o), newAbortCmd(o), newRetryCmd(o), newMigrateCmd(o))
	return root
}

// Client returns a client (with watches) for the kubeconfig the flags select.
func (o *Options) Client() (client.WithWatch, error) {
	if o.client != nil {
		return o.client, nil
	}
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	o.client = c
	return c, nil
}

// newScheme knows the kinds the plugin reads: the built-in ones and Rollouts.
func newScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := stepwisev1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, nil
}

// Namespace is the namespace of -n, else the kubeconfig context's.
func (o *Options) Namespace() (string, error) {
	ns, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// clientAndNamespace returns the client and the namespace of -n.
func (o *Options) clientAndNamespace() (client.WithWatch, string, error) {
	c, err := o.Client()
	if err != nil {
		return nil, "", err
	}
	ns, err := o.Namespace()
	return c, ns, err
}

// getRollout reads one Rollout; a missing one is a clear error.
func (o *Options) getRollout(ctx context.Context, name string) (client.WithWatch, *stepwisev1alpha1.Rollout, error) {
	c, ns, err := o.clientAndNamespace()
	if err != nil {
		return nil, nil, err
	}
	ro := &stepwisev1alpha1.Rollout{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		return nil, nil, err
	}
	return c, ro, nil
}

// replicaSetsOf lists the ReplicaSets the Rollout controls, oldest first.
func replicaSetsOf(ctx context.Context, c client.Client, ro *stepwisev1alpha1.Rollout) ([]*appsv1.ReplicaSet, error) {
	list := &appsv1.ReplicaSetList{}
	if err := c.List(ctx, list, client.InNamespace(ro.Namespace)); err != nil {
		return nil, err
	}
	var owned []*appsv1.ReplicaSet
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], ro) {
			owned = append(owned, &list.Items[i])
		}
	}
	slices.SortFunc(owned, func(a, b *appsv1.ReplicaSet) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	return owned, nil
}

// objectRef is how kubectl names the object in its one-line results.
func objectRef(name string) string { return "rollout.stepwise.dev/" + name }

// exactlyOne checks that a verb got its one ROLLOUT argument.
func exactlyOne(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("exactly one ROLLOUT name is required, got %d arguments", len(args))
	}
	return nil
}
