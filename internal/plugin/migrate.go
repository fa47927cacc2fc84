package plugin

import (
	"cmp"
	"context"
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
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
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
		return o.finishToRollout(ctx, c, existing, source, m, args)
	}
	if dErr != nil {
		return dErr // deployments.apps "NAME" not found
	}
	if !d.DeletionTimestamp.IsZero() {
		return fmt.Errorf("deployment.apps/%s is being deleted", name)
	}
	if owner := metav1.GetControllerOf(d); owner != nil {
		return fmt.Errorf("deployment.apps/%s is controlled by %s %s, which would recreate it: migrate that instead", name, owner.Kind, owner.Name)
	}
	if err := refuseOverlaps(ctx, c, d, d.Spec.Selector, d.Spec.Template.Labels); err != nil {
		return err
	}
	if settled, why := migration.DeploymentSettled(d); !settled && !m.force {
		return fmt.Errorf("deployment.apps/%s is mid-rollout (%s): wait for `kubectl rollout status deployment/%s`, or pass --force to let Stepwise finish the rollout", name, why, name)
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
	if m.dryRun != "client" {
		stored, err := o.authorize(ctx, c, ro, d, rss, hpas, m)
		if err != nil {
			return err
		}
		// The Rollout as the API server would store it must find the Deployment's current
		// ReplicaSet, or resuming it would replace every pod.
		if current := migration.CurrentReplicaSet(&d.Spec.Template, rss); current != nil && !m.force &&
			migration.CurrentReplicaSet(&stored.(*stepwisev1alpha1.Rollout).Spec.Template, rss) != current {
			return fmt.Errorf("rollout.stepwise.dev/%s, as the API server stores it, would not take ReplicaSet %s as its current one: "+
				"comparing the templates found a difference Stepwise cannot ignore; nothing was changed", name, current.Name)
		}
	}
	if m.dryRun != "" {
		return o.printDryRun(ro, d, rss, &d.Spec.Template, migration.DeploymentRevisionAnnotation, hpas, m)
	}
	o.warnIfGitOps(d)
	if err := c.Create(ctx, ro); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "rollout.stepwise.dev/%s created, paused until it has adopted the ReplicaSets\n", name)
	source, _, _ := migration.SourceOf(ro.Annotations)
	return o.finishToRollout(ctx, c, ro, source, m, args)
}

// finishToRollout deletes the Deployment (when it still exists, after giving the Rollout its
// latest replicas), waits for the Rollout to adopt its ReplicaSets, retargets the autoscalers
// and hands over.
func (o *Options) finishToRollout(ctx context.Context, c client.WithWatch, ro *stepwisev1alpha1.Rollout, source migration.Source, m migrateOptions, args string) error {
	key := client.ObjectKeyFromObject(ro)
	// An autoscaler may have resized the Deployment since the Rollout was made from it: the
	// Rollout takes its size, and the deletion holds only for the version read.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, key, d); err != nil {
			return client.IgnoreNotFound(err)
		}
		if string(d.UID) != source.UID {
			return fmt.Errorf("deployment.apps/%s was replaced by another (UID %s, migrating %s)", key.Name, d.UID, source.UID)
		}
		err := o.update(ctx, key.Name, func(ro *stepwisev1alpha1.Rollout) error {
			if ptr.Equal(ro.Spec.Replicas, d.Spec.Replicas) {
				return errNothingToWrite
			}
			ro.Spec.Replicas = d.Spec.Replicas
			return nil
		})
		if err != nil && !errors.Is(err, errNothingToWrite) {
			return err
		}
		err = c.Delete(ctx, d, client.PropagationPolicy(metav1.DeletePropagationOrphan), client.Preconditions{UID: &d.UID, ResourceVersion: &d.ResourceVersion})
		if client.IgnoreNotFound(err) != nil {
			return err
		}
		fmt.Fprintf(o.Out, "deployment.apps/%s deleted with --cascade=orphan: its ReplicaSets keep their pods\n", key.Name)
		return nil
	})
	if err != nil {
		return errResume(err, args)
	}
	adopted, current, err := waitForHandOver(ctx, c, &appsv1.Deployment{}, ro, objectRef(key.Name), func() (*metav1.LabelSelector, *corev1.PodTemplateSpec, bool, int32) {
		progressing := apimeta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionProgressing)
		observed := ro.Status.ObservedGeneration >= ro.Generation && (progressing == nil || progressing.Reason != stepwisev1alpha1.ReasonDeploymentOwnsReplicaSets)
		return ro.Spec.Selector, &ro.Spec.Template, observed, ro.Status.UpdatedReplicas
	}, m.force, args)
	if err != nil {
		return err
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
	if dErr == nil { // a Deployment of that name: ours to finish, or someone else's
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
		return roErr // rollouts.stepwise.dev "NAME" not found
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
	if err := refuseOverlaps(ctx, c, ro, ro.Spec.Selector, ro.Spec.Template.Labels); err != nil {
		return err
	}
	if !status.Complete(&ro.Status, ptr.Deref(ro.Spec.Replicas, 1), ro.Generation) && !m.force {
		return fmt.Errorf("rollout.stepwise.dev/%s is mid-rollout (%d of %d pods updated, %d available, %d in all): wait for `kubectl stepwise status %s`, or pass --force to let the Deployment controller finish the rollout",
			name, ro.Status.UpdatedReplicas, ptr.Deref(ro.Spec.Replicas, 1), ro.Status.AvailableReplicas, ro.Status.Replicas, name)
	}
	hpas, err := hpasTargeting(ctx, c, ns, stepwisev1alpha1.GroupVersion.String(), "Rollout", name)
	if err != nil {
		return err
	}
	if m.dryRun != "client" {
		stored, err := o.authorize(ctx, c, d, ro, owned, hpas, m)
		if err != nil {
			return err
		}
		// The Deployment controller compares templates exactly, defaults applied.
		if storedTemplate := stored.(*appsv1.Deployment).Spec.Template; current != nil && !m.force && !equality.Semantic.DeepEqual(storedTemplate, d.Spec.Template) {
			return fmt.Errorf("deployment.apps/%s, as the API server stores it, would not take ReplicaSet %s as its current one; nothing was changed", name, current.Name)
		}
	}
	if m.dryRun != "" {
		return o.printDryRun(d, ro, owned, &ro.Spec.Template, stepwisev1alpha1.RevisionAnnotation, hpas, m)
	}
	if err := c.Create(ctx, d); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "deployment.apps/%s created, paused: it has no ReplicaSet to act on until they are handed over\n", name)
	source, _, _ := migration.SourceOf(d.Annotations)
	return o.finishToDeployment(ctx, c, d, source, m, args)
}

// finishToDeployment hands the Rollout's ReplicaSets to the paused Deployment, the current one
// first, each in one write (controller reference and revision annotations), deletes the
// Rollout, waits for the Deployment to count the current ReplicaSet as its own, retargets the
// autoscalers and hands over.
//
// The ReplicaSets move by owner reference, not by deleting the Rollout with orphan
// propagation and letting the Deployment adopt the orphans: a Deployment that has claimed only
// old, scaled-down ReplicaSets scales the latest of them up to its replicas, even paused, and
// the garbage collector orphans them in no particular order. Moving the current one first, the
// Deployment never sees the old ones without it; the Rollout, seeing the Deployment of its name
// hold one of its ReplicaSets, changes nothing from then on.
func (o *Options) finishToDeployment(ctx context.Context, c client.WithWatch, d *appsv1.Deployment, source migration.Source, m migrateOptions, args string) error {
	key := client.ObjectKeyFromObject(d)
	ro := &stepwisev1alpha1.Rollout{}
	switch err := c.Get(ctx, key, ro); {
	case apierrors.IsNotFound(err):
		ro = nil
	case err != nil:
		return errResume(err, args)
	case string(ro.UID) != source.UID:
		return fmt.Errorf("rollout.stepwise.dev/%s was replaced by another (UID %s, migrating %s)", key.Name, ro.UID, source.UID)
	}
	if ro != nil {
		// The Deployment takes the Rollout's latest size (an autoscaler may have changed it).
		err := patchFresh(ctx, c, d, func(d *appsv1.Deployment) bool {
			if ptr.Equal(d.Spec.Replicas, ro.Spec.Replicas) {
				return false
			}
			d.Spec.Replicas = ro.Spec.Replicas
			return true
		})
		if err != nil {
			return errResume(err, args)
		}
		owned, err := replicaSetsOf(ctx, c, ro)
		if err != nil {
			return errResume(err, args)
		}
		if current := migration.CurrentReplicaSet(&d.Spec.Template, owned); current != nil {
			owned = append([]*appsv1.ReplicaSet{current}, slices.DeleteFunc(owned, func(rs *appsv1.ReplicaSet) bool { return rs == current })...)
		}
		for _, rs := range owned {
			err := patchFresh(ctx, c, rs, func(rs *appsv1.ReplicaSet) bool {
				if !metav1.IsControlledBy(rs, ro) {
					return false
				}
				refs := []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}
				for _, ref := range rs.OwnerReferences {
					if ref.UID != ro.UID {
						refs = append(refs, ref)
					}
				}
				rs.OwnerReferences = refs
				migration.ToDeployment(rs.Annotations)
				return true
			})
			if err != nil {
				return errResume(err, args)
			}
		}
		err = c.Delete(ctx, ro, client.PropagationPolicy(metav1.DeletePropagationOrphan), client.Preconditions{UID: &ro.UID})
		if client.IgnoreNotFound(err) != nil {
			return errResume(err, args)
		}
		fmt.Fprintf(o.Out, "rollout.stepwise.dev/%s deleted, its ReplicaSets handed to deployment.apps/%s\n", key.Name, key.Name)
	}
	adopted, current, err := waitForHandOver(ctx, c, &stepwisev1alpha1.Rollout{}, d, "deployment.apps/"+key.Name, func() (*metav1.LabelSelector, *corev1.PodTemplateSpec, bool, int32) {
		return d.Spec.Selector, &d.Spec.Template, d.Status.ObservedGeneration >= d.Generation, d.Status.UpdatedReplicas
	}, m.force, args)
	if err != nil {
		return err
	}
	deploymentRevision := func(rs *appsv1.ReplicaSet) int64 {
		return annotationRevision(rs, migration.DeploymentRevisionAnnotation)
	}
	fmt.Fprintf(o.Out, "deployment.apps/%s adopted %s\n", key.Name, describeReplicaSets(adopted, current, deploymentRevision))
	if err := o.retargetHPAs(ctx, c, key, stepwisev1alpha1.GroupVersion.String(), "Rollout", "apps/v1", "Deployment", m.updateHPA); err != nil {
		return errResume(err, args)
	}
	// Stepwise's bookkeeping goes before the hand-over, which removes the mark a re-run needs.
	for _, rs := range adopted {
		err := patchFresh(ctx, c, rs, func(rs *appsv1.ReplicaSet) bool { return migration.StripStepwise(rs.Annotations) })
		if client.IgnoreNotFound(err) != nil {
			return errResume(err, args)
		}
	}
	err = patchFresh(ctx, c, d, func(d *appsv1.Deployment) bool {
		d.Spec.Paused = source.Paused
		delete(d.Annotations, stepwisev1alpha1.MigratedFromAnnotation)
		return true
	})
	if err != nil {
		return errResume(err, args)
	}
	// Until it saw the hand-over, the Deployment controller may have copied the mark onto
	// the current ReplicaSet again.
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, key, d)
		return err == nil && d.Status.ObservedGeneration >= d.Generation, err
	})
	if err != nil {
		return fmt.Errorf("waiting for deployment.apps/%s to observe the hand-over: %w", key.Name, timeoutError(ctx, err))
	}
	if current != nil {
		err := patchFresh(ctx, c, current, func(rs *appsv1.ReplicaSet) bool { return migration.StripStepwise(rs.Annotations) })
		if client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	fmt.Fprintf(o.Out, "rollout.stepwise.dev/%s migrated to deployment.apps/%s%s\n", key.Name, key.Name, map[bool]string{true: " (paused, as the Rollout was)"}[source.Paused])
	return nil
}

// waitForHandOver waits until the source (an empty object of its kind) is gone and target
// controls every ReplicaSet its selector selects, has been observed by its controller and
// counts the ReplicaSet of its template as updated; read gives target's selector, template,
// whether it was observed, and its updated pods, as last read. It returns the ReplicaSets and
// the current one (nil: none). Without force, a target that found no ReplicaSet of its
// template among those it adopted is refused: resumed, it would start a new revision and
// replace every pod.
func waitForHandOver(ctx context.Context, c client.Client, source, target client.Object, ref string,
	read func() (*metav1.LabelSelector, *corev1.PodTemplateSpec, bool, int32), force bool, args string) ([]*appsv1.ReplicaSet, *appsv1.ReplicaSet, error) {
	key := client.ObjectKeyFromObject(target)
	var adopted []*appsv1.ReplicaSet
	var current *appsv1.ReplicaSet
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, source); !apierrors.IsNotFound(err) {
			return false, client.IgnoreNotFound(err)
		}
		if err := c.Get(ctx, key, target); err != nil {
			return false, err
		}
		selector, template, observed, updated := read()
		rss, err := selectedReplicaSets(ctx, c, key.Namespace, selector, nil)
		if err != nil {
			return false, err
		}
		adopted = nil
		for _, rs := range rss {
			if !metav1.IsControlledBy(rs, target) {
				return false, nil // still an orphan, or held by the source
			}
			adopted = append(adopted, rs)
		}
		current = migration.CurrentReplicaSet(template, adopted)
		return observed && (current == nil || updated == current.Status.Replicas), nil
	})
	if err != nil {
		return nil, nil, errResume(fmt.Errorf("waiting for %s to adopt the ReplicaSets and take the one of its template as its own (it stays paused until then): %w",
			ref, timeoutError(ctx, err)), args)
	}
	if current == nil && len(adopted) > 0 && !force {
		return nil, nil, fmt.Errorf("%s found no ReplicaSet of its template among those it adopted: it stays paused, nothing was restarted; "+
			"compare its template with the ReplicaSets', or run again with --force to let it roll out its template", ref)
	}
	return adopted, current, nil
}

// refuseOverlaps refuses a migration when a Rollout or a Deployment other than source selects
// its pods, or has pods its selector selects: two controllers would claim the same pods.
func refuseOverlaps(ctx context.Context, c client.Client, source client.Object, selector *metav1.LabelSelector, template map[string]string) error {
	rollouts := &stepwisev1alpha1.RolloutList{}
	if err := c.List(ctx, rollouts, client.InNamespace(source.GetNamespace())); err != nil {
		return err
	}
	deployments := &appsv1.DeploymentList{}
	if err := c.List(ctx, deployments, client.InNamespace(source.GetNamespace())); err != nil {
		return err
	}
	what := map[bool]string{true: "deployment.apps/", false: objectRef("")}
	_, sourceIsDeployment := source.(*appsv1.Deployment)
	for _, other := range rollouts.Items {
		if other.UID != source.GetUID() && migration.Overlap(selector, template, other.Spec.Selector, other.Spec.Template.Labels) {
			return fmt.Errorf("%s%s's selector overlaps rollout.stepwise.dev/%s's: both would claim the same pods; refusing", what[sourceIsDeployment], source.GetName(), other.Name)
		}
	}
	for _, other := range deployments.Items {
		if other.UID != source.GetUID() && migration.Overlap(selector, template, other.Spec.Selector, other.Spec.Template.Labels) {
			return fmt.Errorf("%s%s's selector overlaps deployment.apps/%s's: both would claim the same pods; refusing", what[sourceIsDeployment], source.GetName(), other.Name)
		}
	}
	return nil
}

// warnIfGitOps says when the Deployment is tracked by Argo CD or Flux, which would recreate it
// from Git after the migration deletes it.
func (o *Options) warnIfGitOps(d *appsv1.Deployment) {
	_, argo := d.Annotations["argocd.argoproj.io/tracking-id"]
	_, flux := d.Labels["kustomize.toolkit.fluxcd.io/name"]
	_, argoLabel := d.Labels["argocd.argoproj.io/instance"]
	if argo || argoLabel || flux {
		fmt.Fprintf(o.Out, "warning: deployment.apps/%s is managed by a GitOps tool: change it to a Rollout in Git too, or the tool recreates it (docs/migrating.md)\n", d.Name)
	}
}

// authorize has the API server check every write the migration makes before the first one,
// so that missing permissions are the API's error and nothing is half done: server-side dry
// runs of creating the target, deleting the source, patching the ReplicaSets and retargeting
// the autoscalers, and an access review for the patches of the target (which does not exist
// yet). It returns the target as the API server would store it.
func (o *Options) authorize(ctx context.Context, c client.Client, target, source client.Object, rss []*appsv1.ReplicaSet, hpas []autoscalingv2.HorizontalPodAutoscaler, m migrateOptions) (client.Object, error) {
	stored := target.DeepCopyObject().(client.Object)
	if err := c.Create(ctx, stored, client.DryRunAll); err != nil {
		return nil, err
	}
	if err := c.Delete(ctx, source.DeepCopyObject().(client.Object), client.DryRunAll, client.PropagationPolicy(metav1.DeletePropagationOrphan)); err != nil {
		return nil, err
	}
	emptyPatch := client.RawPatch(types.MergePatchType, []byte(`{}`))
	for _, rs := range rss {
		if err := c.Patch(ctx, rs.DeepCopy(), emptyPatch, client.DryRunAll); err != nil {
			return nil, err
		}
	}
	if m.updateHPA {
		for i := range hpas {
			if err := c.Patch(ctx, hpas[i].DeepCopy(), emptyPatch, client.DryRunAll); err != nil {
				return nil, err
			}
		}
	}
	gvk := target.GetObjectKind().GroupVersionKind()
	resource := map[string]string{"Rollout": "rollouts", "Deployment": "deployments"}[gvk.Kind]
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
		Namespace: target.GetNamespace(), Verb: "patch", Group: gvk.Group, Resource: resource, Name: target.GetName(),
	}}}
	if err := c.Create(ctx, review); err != nil {
		return nil, err
	}
	if !review.Status.Allowed {
		return nil, apierrors.NewForbidden(schema.GroupResource{Group: gvk.Group, Resource: resource}, target.GetName(), errors.New("the migration patches it to hand over"))
	}
	return stored, nil
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
		err := patchFresh(ctx, c, hpa, func(hpa *autoscalingv2.HorizontalPodAutoscaler) bool {
			hpa.Spec.ScaleTargetRef.APIVersion, hpa.Spec.ScaleTargetRef.Kind = toAPIVersion, toKind
			return true
		})
		if err != nil {
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

// printDryRun prints what a migration would do and the target it would create, or with -o
// only the target's manifest as it is once handed over.
func (o *Options) printDryRun(target, source client.Object, rss []*appsv1.ReplicaSet, template *corev1.PodTemplateSpec, revisionAnnotation string,
	hpas []autoscalingv2.HorizontalPodAutoscaler, m migrateOptions) error {
	if m.output != "" {
		return printData(o.Out, handedOver(target), m.output)
	}
	o.printPlan(target, source, rss, template, revisionAnnotation, hpas, m.dryRun)
	fmt.Fprintln(o.Out, "---")
	return printData(o.Out, handedOver(target), "yaml")
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

// patchFresh re-reads obj, lets change edit it, and patches the difference with an optimistic
// lock, reading again on a conflict: the other controllers write these objects all the time,
// and a patch computed from a stale copy could undo their writes. change reports whether
// there is anything to write.
func patchFresh[T client.Object](ctx context.Context, c client.Client, obj T, change func(T) bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		before := obj.DeepCopyObject().(T)
		if !change(obj) {
			return nil
		}
		return c.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	})
}
