package plugin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/migration"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/status"
)

// migrateOptions are the flags of `kubectl stepwise migrate`.
type migrateOptions struct {
	toDeployment bool
	dryRun       string // "", "client" or "server"
	output       string
	force        bool
	updateHPA    bool
	timeout      time.Duration
}

func newMigrateCmd(o *Options) *cobra.Command {
	var m migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate deployment/NAME | rollout/NAME --to-deployment",
		Short: "Move a running Deployment to a Rollout, or a Rollout back to a Deployment, with no pod restarted",
		Long: `Replaces a Deployment by a Rollout of the same name, labels, annotations and spec (or the
reverse with --to-deployment). The ReplicaSets and their pods are handed over as they are: no
pod is created, deleted or relabelled, and the revisions (with their change causes) carry over,
so history and undo reach revisions made before the migration.

Order (docs/migrating.md): into Stepwise, the Rollout is created paused (it waits while the
Deployment holds the ReplicaSets), the Deployment is deleted with --cascade=orphan, the Rollout
adopts the ReplicaSets, then it is resumed. Out of Stepwise, the Deployment may only exist once
the Rollout is gone: the Deployment to create is first recorded on the current ReplicaSet,
the Rollout is deleted with --cascade=orphan, the ReplicaSets get the Deployment's revision
annotations, the Deployment is created paused, adopts them, and is resumed. A source that was
paused stays paused. If the command stops in the middle, running it again finishes it.

A Deployment (or Rollout) mid-rollout is refused unless --force: the other controller then
finishes the rollout within the same bounds. HorizontalPodAutoscalers that target the source
are retargeted with --update-hpa; otherwise the command prints how.`,
		Example: `  kubectl stepwise migrate deployment/hellok8s
  kubectl stepwise migrate deployment/hellok8s --dry-run=client -o yaml > hellok8s-rollout.yaml
  kubectl stepwise migrate rollout/hellok8s --to-deployment --update-hpa`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("exactly one deployment/NAME or rollout/NAME is required, got %d arguments", len(args))
			}
			kind, name, err := parseWorkload(args[0])
			if err != nil {
				return err
			}
			switch {
			case kind == "deployment" && m.toDeployment:
				return fmt.Errorf("--to-deployment moves a Rollout to a Deployment: use rollout/%s", name)
			case kind == "rollout" && !m.toDeployment:
				return fmt.Errorf("rollout/%s is already a Rollout: add --to-deployment to move it to a Deployment", name)
			}
			if err := checkOutput(m.output); err != nil {
				return err
			}
			if m.dryRun != "" && m.dryRun != "client" && m.dryRun != "server" && m.dryRun != "none" {
				return fmt.Errorf(`invalid --dry-run value %q: must be "none", "server", or "client"`, m.dryRun)
			}
			if m.dryRun == "none" {
				m.dryRun = ""
			}
			if m.output != "" && m.dryRun == "" {
				return errors.New("--output (-o) goes with --dry-run: it prints the manifest of the object that would replace the source")
			}
			if m.timeout <= 0 {
				return fmt.Errorf("--timeout must be positive, got %s", m.timeout)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), m.timeout)
			defer cancel()
			if m.toDeployment {
				return o.migrateToDeployment(ctx, name, m)
			}
			return o.migrateToRollout(ctx, name, m)
		},
	}
	cmd.Flags().BoolVar(&m.toDeployment, "to-deployment", false, "Move rollout/NAME back to a Deployment.")
	cmd.Flags().StringVar(&m.dryRun, "dry-run", "", `"client": print what would happen and change nothing; "server": also have the API server validate and authorize every write, without persisting it.`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
	cmd.Flags().StringVarP(&m.output, "output", "o", "", "json or yaml: print the manifest of the object that replaces the source (as it is once handed over).")
	cmd.Flags().BoolVar(&m.force, "force", false, "Migrate a workload mid-rollout; the other controller finishes the rollout.")
	cmd.Flags().BoolVar(&m.updateHPA, "update-hpa", false, "Retarget the HorizontalPodAutoscalers that target the source.")
	cmd.Flags().DurationVar(&m.timeout, "timeout", 2*time.Minute, "How long to wait for the ReplicaSets to be handed over.")
	return cmd
}

// parseWorkload reads deployment/NAME or rollout/NAME as kubectl spells them.
func parseWorkload(arg string) (kind, name string, err error) {
	resource, name, ok := strings.Cut(arg, "/")
	if ok && name != "" {
		switch resource {
		case "deployment", "deployments", "deploy", "deployment.apps", "deployments.apps":
			return "deployment", name, nil
		case "rollout", "rollouts", "rollout.stepwise.dev", "rollouts.stepwise.dev":
			return "rollout", name, nil
		}
	}
	return "", "", fmt.Errorf("%q: expected deployment/NAME or rollout/NAME", arg)
}

// errResume is the hint an error carries once the migration has written something.
func errResume(err error, args string) error {
	return fmt.Errorf("%w\nthe migration stopped half-way and changed nothing it cannot finish: run `kubectl stepwise migrate %s` again to finish it", err, args)
}

// migrateToRollout replaces Deployment name by a Rollout (see newMigrateCmd for the order).
func (o *Options) migrateToRollout(ctx context.Context, name string, m migrateOptions) error {
	c, ns, err := o.clientAndNamespace()
	if err != nil {
		return err
	}
	d := &appsv1.Deployment{}
	dErr := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d)
	if dErr != nil && !apierrors.IsNotFound(dErr) {
		return dErr
	}
	existing := &stepwisev1alpha1.Rollout{}
	roErr := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, existing)
	if roErr != nil && !apierrors.IsNotFound(roErr) {
		return roErr
	}
	args := "deployment/" + name
	if roErr == nil { // a Rollout of that name: ours to finish, or someone else's
		source, marked, err := migration.SourceOf(existing.Annotations)
		if err != nil || !marked || source.Kind != "Deployment" || (dErr == nil && source.UID != string(d.UID)) {
			return fmt.Errorf("rollout.stepwise.dev/%s already exists: refusing to replace deployment.apps/%s by it", name, name)
		}
		if m.dryRun != "" {
			return fmt.Errorf("a migration of deployment.apps/%s is under way: run it again without --dry-run to finish it", name)
		}
		fmt.Fprintf(o.Out, "resuming the migration of deployment.apps/%s\n", name)
		return o.finishToRollout(ctx, c, existing, source, dErr == nil, m, args)
	}
	if dErr != nil {
		return dErr // deployments.apps "NAME" not found
	}
	if !d.DeletionTimestamp.IsZero() {
		return fmt.Errorf("deployment.apps/%s is being deleted", name)
	}
	if settled, why := migration.DeploymentSettled(d); !settled && !m.force {
		return fmt.Errorf("deployment.apps/%s is mid-rollout (%s): wait for `kubectl rollout status deployment/%s`, or pass --force to let Stepwise finish the rollout", name, why, name)
	}
	rollouts := &stepwisev1alpha1.RolloutList{}
	if err := c.List(ctx, rollouts, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, other := range rollouts.Items {
		if migration.Overlap(d.Spec.Selector, d.Spec.Template.Labels, other.Spec.Selector, other.Spec.Template.Labels) {
			return fmt.Errorf("deployment.apps/%s's selector overlaps rollout.stepwise.dev/%s's: the Rollout would adopt its pods; refusing", name, other.Name)
		}
	}
	ro, err := migration.Rollout(d)
	if err != nil {
		return err
	}
	rss, err := selectedReplicaSets(ctx, c, ns, d.Spec.Selector, d)
	if err != nil {
		return err
	}
	hpas, err := hpasTargeting(ctx, c, ns, "apps/v1", "Deployment", name)
	if err != nil {
		return err
	}
	if m.dryRun == "server" || m.dryRun == "" {
		if err := o.authorize(ctx, c, ro, d, hpas, m); err != nil {
			return err
		}
	}
	if m.dryRun != "" || m.output != "" {
		if m.output != "" {
			return printData(o.Out, handedOver(ro), m.output)
		}
		o.printPlan(ro, d, rss, &d.Spec.Template, migration.DeploymentRevisionAnnotation, hpas, m.dryRun)
		return nil
	}
	if err := c.Create(ctx, ro); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "rollout.stepwise.dev/%s created, paused until it has adopted the ReplicaSets\n", name)
	source, _, _ := migration.SourceOf(ro.Annotations)
	return o.finishToRollout(ctx, c, ro, source, true, m, args)
}

// finishToRollout deletes the Deployment (when it still exists), waits for the Rollout to
// adopt its ReplicaSets, retargets the autoscalers and hands over.
func (o *Options) finishToRollout(ctx context.Context, c client.WithWatch, ro *stepwisev1alpha1.Rollout, source migration.Source, deploymentExists bool, m migrateOptions, args string) error {
	key := client.ObjectKeyFromObject(ro)
	if deploymentExists {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		err := c.Delete(ctx, d, client.PropagationPolicy(metav1.DeletePropagationOrphan), client.Preconditions{UID: ptr.To(types.UID(source.UID))})
		if client.IgnoreNotFound(err) != nil {
			return errResume(err, args)
		}
		fmt.Fprintf(o.Out, "deployment.apps/%s deleted with --cascade=orphan: its ReplicaSets keep their pods\n", key.Name)
	}
	var adopted []*appsv1.ReplicaSet
	var current *appsv1.ReplicaSet
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			return false, client.IgnoreNotFound(err)
		}
		if err := c.Get(ctx, key, ro); err != nil {
			return false, err
		}
		rss, err := selectedReplicaSets(ctx, c, key.Namespace, ro.Spec.Selector, nil)
		if err != nil {
			return false, err
		}
		adopted = nil
		for _, rs := range rss {
			if !metav1.IsControlledBy(rs, ro) {
				return false, nil // still an orphan, or held by the Deployment
			}
			adopted = append(adopted, rs)
		}
		progressing := apimeta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionProgressing)
		current = migration.CurrentReplicaSet(&ro.Spec.Template, adopted)
		return ro.Status.ObservedGeneration >= ro.Generation && progressing != nil && progressing.Reason != stepwisev1alpha1.ReasonDeploymentOwnsReplicaSets &&
			(current == nil || ro.Status.UpdatedReplicas == current.Status.Replicas), nil
	})
	if err != nil {
		return errResume(fmt.Errorf("waiting for rollout.stepwise.dev/%s to adopt the Deployment's ReplicaSets: %w", key.Name, timeoutError(ctx, err)), args)
	}
	if current == nil && len(adopted) > 0 && !m.force {
		// Resumed, the Rollout would start a new revision and replace every pod.
		return fmt.Errorf("rollout.stepwise.dev/%s found no ReplicaSet of its template among those it adopted: it stays paused, nothing was restarted; "+
			"compare its template with the ReplicaSets', or run again with --force to let it roll out its template", key.Name)
	}
	fmt.Fprintf(o.Out, "rollout.stepwise.dev/%s adopted %s\n", key.Name, describeReplicaSets(adopted, current, revision.Of))
	if err := o.retargetHPAs(ctx, c, key, "apps/v1", "Deployment", stepwisev1alpha1.GroupVersion.String(), "Rollout", m.updateHPA); err != nil {
		return errResume(err, args)
	}
	err = o.update(ctx, key.Name, func(ro *stepwisev1alpha1.Rollout) error {
		ro.Spec.Paused = source.Paused
		delete(ro.Annotations, stepwisev1alpha1.MigratedFromAnnotation)
		return nil
	})
	if err != nil {
		return errResume(err, args)
	}
	fmt.Fprintf(o.Out, "deployment.apps/%s migrated to rollout.stepwise.dev/%s%s\n", key.Name, key.Name, map[bool]string{true: " (paused, as the Deployment was)"}[source.Paused])
	return nil
}

// migrateToDeployment replaces Rollout name by a Deployment (see newMigrateCmd for the order).
func (o *Options) migrateToDeployment(ctx context.Context, name string, m migrateOptions) error {
	c, ns, err := o.clientAndNamespace()
	if err != nil {
		return err
	}
	args := "rollout/" + name + " --to-deployment"
	ro := &stepwisev1alpha1.Rollout{}
	roErr := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro)
	if roErr != nil && !apierrors.IsNotFound(roErr) {
		return roErr
	}
	existing := &appsv1.Deployment{}
	dErr := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, existing)
	if dErr != nil && !apierrors.IsNotFound(dErr) {
		return dErr
	}
	if dErr == nil {
		source, marked, err := migration.SourceOf(existing.Annotations)
		if err != nil || !marked || source.Kind != "Rollout" || (roErr == nil && source.UID != string(ro.UID)) {
			return fmt.Errorf("deployment.apps/%s already exists: refusing to replace rollout.stepwise.dev/%s by it", name, name)
		}
		if m.dryRun != "" {
			return fmt.Errorf("a migration of rollout.stepwise.dev/%s is under way: run it again without --dry-run to finish it", name)
		}
		fmt.Fprintf(o.Out, "resuming the migration of rollout.stepwise.dev/%s\n", name)
		return o.finishToDeployment(ctx, c, existing, source, m, args)
	}
	if roErr != nil {
		// The Rollout may be gone because an earlier run deleted it: its Deployment waits on
		// the ReplicaSet that recorded it.
		if d, err := recordedDeployment(ctx, c, ns, name); err != nil || d == nil {
			return cmpErr(err, roErr)
		} else if m.dryRun != "" {
			return fmt.Errorf("a migration of rollout.stepwise.dev/%s is under way: run it again without --dry-run to finish it", name)
		} else {
			fmt.Fprintf(o.Out, "resuming the migration of rollout.stepwise.dev/%s\n", name)
			return o.createDeployment(ctx, c, d, m, args)
		}
	}
	if !ro.DeletionTimestamp.IsZero() {
		return fmt.Errorf("rollout.stepwise.dev/%s is being deleted", name)
	}
	owned, err := replicaSetsOf(ctx, c, ro)
	if err != nil {
		return err
	}
	current := migration.CurrentReplicaSet(&ro.Spec.Template, owned)
	d, err := migration.Deployment(ro, current)
	if err != nil {
		return err
	}
	if !status.Complete(&ro.Status, ptr.Deref(ro.Spec.Replicas, 1), ro.Generation) && !m.force {
		return fmt.Errorf("rollout.stepwise.dev/%s is mid-rollout (%d of %d pods updated, %d available): wait for `kubectl stepwise status %s`, or pass --force to let the Deployment controller finish the rollout",
			name, ro.Status.UpdatedReplicas, ptr.Deref(ro.Spec.Replicas, 1), ro.Status.AvailableReplicas, name)
	}
	deployments := &appsv1.DeploymentList{}
	if err := c.List(ctx, deployments, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, other := range deployments.Items {
		if migration.Overlap(ro.Spec.Selector, ro.Spec.Template.Labels, other.Spec.Selector, other.Spec.Template.Labels) {
			return fmt.Errorf("rollout.stepwise.dev/%s's selector overlaps deployment.apps/%s's: the Deployment would adopt its pods; refusing", name, other.Name)
		}
	}
	hpas, err := hpasTargeting(ctx, c, ns, stepwisev1alpha1.GroupVersion.String(), "Rollout", name)
	if err != nil {
		return err
	}
	if m.dryRun == "server" || m.dryRun == "" {
		if err := o.authorize(ctx, c, d, ro, hpas, m); err != nil {
			return err
		}
		for _, rs := range owned { // the ReplicaSets get the Deployment's annotations
			if err := c.Patch(ctx, rs.DeepCopy(), client.RawPatch("application/merge-patch+json", []byte(`{}`)), client.DryRunAll); err != nil {
				return err
			}
		}
	}
	if m.dryRun != "" || m.output != "" {
		if m.output != "" {
			return printData(o.Out, handedOver(d), m.output)
		}
		o.printPlan(d, ro, owned, &ro.Spec.Template, stepwisev1alpha1.RevisionAnnotation, hpas, m.dryRun)
		return nil
	}
	// The Deployment to create is recorded on the ReplicaSet it is to take as its current one
	// (the newest when the current template has none yet) before the Rollout goes.
	holder := current
	if holder == nil && len(owned) > 0 {
		holder = owned[len(owned)-1]
	}
	if holder == nil {
		return fmt.Errorf("rollout.stepwise.dev/%s has no ReplicaSet to hand over", name)
	}
	manifest, err := json.Marshal(d)
	if err != nil {
		return err
	}
	recorded := holder.DeepCopy()
	recorded.Annotations[stepwisev1alpha1.MigrationTargetAnnotation] = string(manifest)
	if err := c.Patch(ctx, recorded, client.MergeFrom(holder)); err != nil {
		return err
	}
	err = c.Delete(ctx, ro, client.PropagationPolicy(metav1.DeletePropagationOrphan), client.Preconditions{UID: &ro.UID})
	if err != nil {
		return errResume(err, args)
	}
	fmt.Fprintf(o.Out, "rollout.stepwise.dev/%s deleted with --cascade=orphan: its ReplicaSets keep their pods\n", name)
	return o.createDeployment(ctx, c, d, m, args)
}

// createDeployment waits for the Rollout to be gone (its ReplicaSets orphaned), gives the
// ReplicaSets the Deployment's revision annotations, and creates the Deployment, paused.
func (o *Options) createDeployment(ctx context.Context, c client.WithWatch, d *appsv1.Deployment, m migrateOptions, args string) error {
	key := client.ObjectKeyFromObject(d)
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, key, &stepwisev1alpha1.Rollout{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		return errResume(fmt.Errorf("waiting for rollout.stepwise.dev/%s to be deleted: %w", key.Name, timeoutError(ctx, err)), args)
	}
	rss, err := selectedReplicaSets(ctx, c, key.Namespace, d.Spec.Selector, nil)
	if err != nil {
		return errResume(err, args)
	}
	for _, rs := range rss {
		if metav1.GetControllerOf(rs) != nil {
			continue
		}
		converted := rs.DeepCopy()
		if migration.ToDeployment(converted.Annotations) {
			if err := c.Patch(ctx, converted, client.MergeFromWithOptions(rs, client.MergeFromWithOptimisticLock{})); err != nil {
				return errResume(err, args)
			}
		}
	}
	if err := c.Create(ctx, d); err != nil {
		return errResume(err, args)
	}
	fmt.Fprintf(o.Out, "deployment.apps/%s created, paused until it has adopted the ReplicaSets\n", key.Name)
	source, _, err := migration.SourceOf(d.Annotations)
	if err != nil {
		return errResume(err, args)
	}
	return o.finishToDeployment(ctx, c, d, source, m, args)
}

// finishToDeployment waits for the Deployment to adopt the ReplicaSets and take the current
// one as its own, retargets the autoscalers, hands over and drops Stepwise's annotations.
func (o *Options) finishToDeployment(ctx context.Context, c client.WithWatch, d *appsv1.Deployment, source migration.Source, m migrateOptions, args string) error {
	key := client.ObjectKeyFromObject(d)
	var adopted []*appsv1.ReplicaSet
	var current *appsv1.ReplicaSet
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, d); err != nil {
			return false, err
		}
		rss, err := selectedReplicaSets(ctx, c, key.Namespace, d.Spec.Selector, nil)
		if err != nil {
			return false, err
		}
		adopted = nil
		for _, rs := range rss {
			if !metav1.IsControlledBy(rs, d) {
				return false, nil
			}
			adopted = append(adopted, rs)
		}
		current = migration.CurrentReplicaSet(&d.Spec.Template, adopted)
		return d.Status.ObservedGeneration >= d.Generation && (current == nil || d.Status.UpdatedReplicas == current.Status.Replicas), nil
	})
	if err != nil {
		return errResume(fmt.Errorf("waiting for deployment.apps/%s to adopt the ReplicaSets and take the one of its template as its own (it stays paused until then): %w",
			key.Name, timeoutError(ctx, err)), args)
	}
	deploymentRevision := func(rs *appsv1.ReplicaSet) int64 { return annotationRevision(rs, migration.DeploymentRevisionAnnotation) }
	fmt.Fprintf(o.Out, "deployment.apps/%s adopted %s\n", key.Name, describeReplicaSets(adopted, current, deploymentRevision))
	if err := o.retargetHPAs(ctx, c, key, stepwisev1alpha1.GroupVersion.String(), "Rollout", "apps/v1", "Deployment", m.updateHPA); err != nil {
		return errResume(err, args)
	}
	resumed := d.DeepCopy()
	resumed.Spec.Paused = source.Paused
	delete(resumed.Annotations, stepwisev1alpha1.MigratedFromAnnotation)
	if err := c.Patch(ctx, resumed, client.MergeFromWithOptions(d, client.MergeFromWithOptimisticLock{})); err != nil {
		return errResume(err, args)
	}
	// Stepwise's bookkeeping goes last: until the Deployment is handed over, a re-run may need
	// the recorded Deployment. Left behind it would be harmless (a Rollout adopting these
	// ReplicaSets again takes the Deployment's numbers).
	for _, rs := range adopted {
		stripped := rs.DeepCopy()
		if migration.StripStepwise(stripped.Annotations) {
			if err := c.Patch(ctx, stripped, client.MergeFrom(rs)); client.IgnoreNotFound(err) != nil {
				return errResume(err, args)
			}
		}
	}
	fmt.Fprintf(o.Out, "rollout.stepwise.dev/%s migrated to deployment.apps/%s%s\n", key.Name, key.Name, map[bool]string{true: " (paused, as the Rollout was)"}[source.Paused])
	return nil
}

// recordedDeployment is the Deployment an interrupted migration recorded on an orphaned
// ReplicaSet of the namespace, for Rollout name; nil when there is none.
func recordedDeployment(ctx context.Context, c client.Client, ns, name string) (*appsv1.Deployment, error) {
	list := &appsv1.ReplicaSetList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	for _, rs := range list.Items {
		manifest, ok := rs.Annotations[stepwisev1alpha1.MigrationTargetAnnotation]
		if !ok || metav1.GetControllerOf(&rs) != nil {
			continue
		}
		d := &appsv1.Deployment{}
		if err := json.Unmarshal([]byte(manifest), d); err != nil {
			return nil, fmt.Errorf("ReplicaSet %s: annotation %s: %w", rs.Name, stepwisev1alpha1.MigrationTargetAnnotation, err)
		}
		if d.Name == name {
			return d, nil
		}
	}
	return nil, nil
}

func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// authorize has the API server check every write the migration makes before the first one,
// so that missing permissions are the API's error and nothing is half done: a server-side
// dry run of creating the target, deleting the source and retargeting the autoscalers, and an
// access review for the final patch of the target (which does not exist yet).
func (o *Options) authorize(ctx context.Context, c client.Client, target, source client.Object, hpas []autoscalingv2.HorizontalPodAutoscaler, m migrateOptions) error {
	if err := c.Create(ctx, target.DeepCopyObject().(client.Object), client.DryRunAll); err != nil {
		return err
	}
	if err := c.Delete(ctx, source.DeepCopyObject().(client.Object), client.DryRunAll, client.PropagationPolicy(metav1.DeletePropagationOrphan)); err != nil {
		return err
	}
	if m.updateHPA {
		for i := range hpas {
			if err := c.Patch(ctx, hpas[i].DeepCopy(), client.RawPatch("application/merge-patch+json", []byte(`{}`)), client.DryRunAll); err != nil {
				return err
			}
		}
	}
	gvk := target.GetObjectKind().GroupVersionKind()
	resource := map[string]string{"Rollout": "rollouts", "Deployment": "deployments"}[gvk.Kind]
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
		Namespace: target.GetNamespace(), Verb: "patch", Group: gvk.Group, Resource: resource, Name: target.GetName(),
	}}}
	if err := c.Create(ctx, review); err != nil {
		return err
	}
	if !review.Status.Allowed {
		return apierrors.NewForbidden(schema.GroupResource{Group: gvk.Group, Resource: resource}, target.GetName(), errors.New("cannot patch it: the migration resumes it at the end"))
	}
	return nil
}

// selectedReplicaSets lists the ReplicaSets of ns that selector selects, not controlled by
// anything but owner (nil: anything), oldest first.
func selectedReplicaSets(ctx context.Context, c client.Client, ns string, selector *metav1.LabelSelector, owner metav1.Object) ([]*appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	list := &appsv1.ReplicaSetList{}
	if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, err
	}
	var out []*appsv1.ReplicaSet
	for i := range list.Items {
		rs := &list.Items[i]
		if owner != nil && !metav1.IsControlledBy(rs, owner) {
			continue
		}
		out = append(out, rs)
	}
	slices.SortFunc(out, revision.CompareByAge)
	return out, nil
}

// hpasTargeting lists the HorizontalPodAutoscalers of ns that scale apiVersion/kind name.
func hpasTargeting(ctx context.Context, c client.Client, ns, apiVersion, kind, name string) ([]autoscalingv2.HorizontalPodAutoscaler, error) {
	list := &autoscalingv2.HorizontalPodAutoscalerList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []autoscalingv2.HorizontalPodAutoscaler
	for _, hpa := range list.Items {
		ref := hpa.Spec.ScaleTargetRef
		if ref.Kind == kind && ref.Name == name && groupOf(ref.APIVersion) == groupOf(apiVersion) {
			out = append(out, hpa)
		}
	}
	return out, nil
}

func groupOf(apiVersion string) string {
	gv, _ := schema.ParseGroupVersion(apiVersion)
	return gv.Group
}

// retargetHPAs points the autoscalers of the source at the target (with update), or prints
// the command that does.
func (o *Options) retargetHPAs(ctx context.Context, c client.Client, key client.ObjectKey, fromAPIVersion, fromKind, toAPIVersion, toKind string, update bool) error {
	hpas, err := hpasTargeting(ctx, c, key.Namespace, fromAPIVersion, fromKind, key.Name)
	if err != nil {
		return err
	}
	for i := range hpas {
		hpa := &hpas[i]
		if !update {
			fmt.Fprintf(o.Out, "horizontalpodautoscaler.autoscaling/%s still targets %s %s; retarget it with:\n  kubectl patch hpa %s -n %s --type=merge -p '{\"spec\":{\"scaleTargetRef\":{\"apiVersion\":%q,\"kind\":%q,\"name\":%q}}}'\n",
				hpa.Name, strings.ToLower(fromKind), key.Name, hpa.Name, key.Namespace, toAPIVersion, toKind, key.Name)
			continue
		}
		retargeted := hpa.DeepCopy()
		retargeted.Spec.ScaleTargetRef.APIVersion, retargeted.Spec.ScaleTargetRef.Kind = toAPIVersion, toKind
		if err := c.Patch(ctx, retargeted, client.MergeFromWithOptions(hpa, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "horizontalpodautoscaler.autoscaling/%s retargeted to %s/%s\n", hpa.Name, strings.ToLower(toKind), key.Name)
	}
	return nil
}

// handedOver is the target as it will be once the migration ends: the manifest to keep.
func handedOver(obj client.Object) client.Object {
	out := obj.DeepCopyObject().(client.Object)
	source, _, _ := migration.SourceOf(out.GetAnnotations())
	annotations := out.GetAnnotations()
	delete(annotations, stepwisev1alpha1.MigratedFromAnnotation)
	out.SetAnnotations(annotations)
	switch x := out.(type) {
	case *stepwisev1alpha1.Rollout:
		x.Spec.Paused = source.Paused
	case *appsv1.Deployment:
		x.Spec.Paused = source.Paused
	}
	return out
}

// printPlan says what a migration would do: the target, the source's deletion, the
// ReplicaSets handed over, the autoscalers to retarget.
func (o *Options) printPlan(target, source client.Object, rss []*appsv1.ReplicaSet, template *corev1.PodTemplateSpec, revisionAnnotation string, hpas []autoscalingv2.HorizontalPodAutoscaler, dryRun string) {
	ref := func(obj client.Object) string {
		if _, ok := obj.(*appsv1.Deployment); ok {
			return "deployment.apps/" + obj.GetName()
		}
		return objectRef(obj.GetName())
	}
	mode := map[string]string{"client": "dry run", "server": "server dry run"}[dryRun]
	fmt.Fprintf(o.Out, "%s would be created from %s, paused until it has adopted the ReplicaSets (%s)\n", ref(target), ref(source), mode)
	fmt.Fprintf(o.Out, "%s would be deleted with --cascade=orphan: its ReplicaSets keep their pods\n", ref(source))
	fmt.Fprintln(o.Out, "ReplicaSets handed over as they are (no pod created, deleted or relabelled):")
	current := migration.CurrentReplicaSet(template, rss)
	tw := tabwriter.NewWriter(o.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  REVISION\tREPLICASET\tPODS\tTEMPLATE")
	for _, rs := range byRevision(rss, func(rs *appsv1.ReplicaSet) int64 { return annotationRevision(rs, revisionAnnotation) }) {
		tmpl := ""
		if rs == current {
			tmpl = "current"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%d\t%s\n", annotationRevision(rs, revisionAnnotation), rs.Name, rs.Status.Replicas, tmpl)
	}
	tw.Flush()
	for _, hpa := range hpas {
		fmt.Fprintf(o.Out, "horizontalpodautoscaler.autoscaling/%s targets %s: --update-hpa retargets it\n", hpa.Name, ref(source))
	}
}

// describeReplicaSets lists the ReplicaSets handed over, newest revision first.
func describeReplicaSets(rss []*appsv1.ReplicaSet, current *appsv1.ReplicaSet, revisionOf func(*appsv1.ReplicaSet) int64) string {
	var parts []string
	for _, rs := range byRevision(rss, revisionOf) {
		part := fmt.Sprintf("%s (revision %d", rs.Name, revisionOf(rs))
		if rs == current {
			part += ", current"
		}
		parts = append(parts, fmt.Sprintf("%s, %d pods)", part, rs.Status.Replicas))
	}
	if len(parts) == 0 {
		return "no ReplicaSet"
	}
	return "ReplicaSets " + strings.Join(parts, ", ")
}

// byRevision sorts a copy of rss by revision, newest first.
func byRevision(rss []*appsv1.ReplicaSet, revisionOf func(*appsv1.ReplicaSet) int64) []*appsv1.ReplicaSet {
	sorted := slices.Clone(rss)
	slices.SortStableFunc(sorted, func(a, b *appsv1.ReplicaSet) int { return cmp.Compare(revisionOf(b), revisionOf(a)) })
	return sorted
}

// annotationRevision reads a revision number annotation (0 when absent or malformed).
func annotationRevision(rs *appsv1.ReplicaSet, annotation string) int64 {
	n, err := strconv.ParseInt(rs.Annotations[annotation], 10, 64)
	if err != nil {
		return 0
	}
	return n
}
