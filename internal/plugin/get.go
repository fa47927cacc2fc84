package plugin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
)

func newGetCmd(o *Options) *cobra.Command {
	var watchFlag bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "get ROLLOUT",
		Short: "Show a Rollout as a tree: its ReplicaSets by revision and their pods with readiness",
		Example: `  kubectl stepwise get hellok8s
  kubectl stepwise get hellok8s --watch            # redraw on every change until Ctrl-C
  kubectl stepwise get hellok8s --watch --timeout=30s`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := exactlyOne(args); err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return o.runGet(ctx, args[0], watchFlag)
		},
	}
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", false, "Redraw the tree on every change of the Rollout, its ReplicaSets or their pods.")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "With --watch: stop after this long (0: until interrupted).")
	return cmd
}

func (o *Options) runGet(ctx context.Context, name string, watchChanges bool) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	ns, err := o.Namespace()
	if err != nil {
		return err
	}
	draw := func() (string, error) {
		ro := &stepwisev1alpha1.Rollout{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
			return "", err
		}
		rss, err := replicaSetsOf(ctx, c, ro)
		if err != nil {
			return "", err
		}
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, client.InNamespace(ns)); err != nil {
			return "", err
		}
		selected, err := selectedHashes(ctx, c, ro)
		if err != nil {
			return "", err
		}
		runs := &stepwisev1alpha1.AnalysisRunList{}
		if err := c.List(ctx, runs, client.InNamespace(ns)); err != nil {
			return "", err
		}
		return renderTree(ro, rss, pods.Items, runs.Items, selected), nil
	}
	tree, err := draw()
	if err != nil {
		return err
	}
	fmt.Fprint(o.Out, tree)
	if !watchChanges {
		return nil
	}
	lists := []client.ObjectList{&stepwisev1alpha1.RolloutList{}, &appsv1.ReplicaSetList{}, &corev1.PodList{}, &stepwisev1alpha1.AnalysisRunList{}}
	changes, failed := make(chan struct{}, 1), make(chan error, len(lists))
	for _, list := range lists {
		go o.watchChanges(ctx, c, list, ns, changes, failed)
	}
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil // --timeout: the watch was asked to end
			}
			return ctx.Err()
		case err := <-failed:
			return err
		case <-changes:
			next, err := draw()
			if err != nil {
				return err
			}
			if next != tree {
				fmt.Fprintln(o.Out)
				fmt.Fprint(o.Out, next)
				tree = next
			}
		}
	}
}

// watchChanges signals every change of the listed kind in the namespace, re-establishing the
// watch when the server closes it. A watch that cannot start (forbidden, say) ends the command
// through failed: the tree would silently stop following that kind.
func (o *Options) watchChanges(ctx context.Context, c client.WithWatch, list client.ObjectList, ns string, changes chan<- struct{}, failed chan<- error) {
	for ctx.Err() == nil {
		w, err := c.Watch(ctx, list, client.InNamespace(ns))
		if err != nil {
			if ctx.Err() == nil {
				failed <- fmt.Errorf("watching %T: %w", list, err)
			}
			return
		}
		for range w.ResultChan() {
			select {
			case changes <- struct{}{}:
			default: // a redraw is already due
			}
		}
		w.Stop()
	}
}

// selectedHashes reads which pod-template-hash each Service of a BlueGreen Rollout selects
// ("missing" for a Service that does not exist).
func selectedHashes(ctx context.Context, c client.Client, ro *stepwisev1alpha1.Rollout) (map[string]string, error) {
	bg := ro.Spec.Strategy.BlueGreen
	if bg == nil {
		return nil, nil
	}
	selected := map[string]string{}
	for _, name := range []string{bg.ActiveService, bg.PreviewService} {
		if name == "" {
			continue
		}
		svc := &corev1.Service{}
		switch err := c.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: name}, svc); {
		case apierrors.IsNotFound(err):
			selected[name] = "missing"
		case err != nil:
			return nil, err
		default:
			selected[name] = orDash(svc.Spec.Selector[stepwisev1alpha1.PodTemplateHashLabel])
		}
	}
	return selected, nil
}

// renderTree draws a Rollout, its ReplicaSets newest revision first, and under each its
// analysis runs and its pods; selected maps a BlueGreen Rollout's Services to the
// pod-template-hash they select.
func renderTree(ro *stepwisev1alpha1.Rollout, rss []*appsv1.ReplicaSet, pods []corev1.Pod, runs []stepwisev1alpha1.AnalysisRun, selected map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Rollout %s  ready %s  revision %d", ro.Name, orDash(ro.Status.Ready), ro.Status.CurrentRevision)
	if s := summary(ro); s != "" {
		b.WriteString("  " + s)
	}
	b.WriteString("\n")
	for _, line := range progressLines(ro, selected) {
		b.WriteString("   " + line + "\n")
	}
	ordered := slices.Clone(rss)
	revision.SortByRevision(ordered)
	slices.Reverse(ordered)
	for i, rs := range ordered {
		lastRS := i == len(ordered)-1
		fmt.Fprintf(&b, "%s ReplicaSet %s  revision %d  %s  desired %d  ready %d/%d\n",
			branch(lastRS), rs.Name, revision.Of(rs), images(rs), ptrInt(rs.Spec.Replicas), rs.Status.ReadyReplicas, rs.Status.Replicas)
		var owned []corev1.Pod
		for _, p := range pods {
			if metav1.IsControlledBy(&p, rs) {
				owned = append(owned, p)
			}
		}
		slices.SortFunc(owned, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
		analyses := analysesOf(ro, rs, runs)
		for j, run := range analyses {
			lastItem := j == len(analyses)-1 && len(owned) == 0
			fmt.Fprintf(&b, "%s%s AnalysisRun %s  %s  passed/failed %s\n", stem(lastRS), branch(lastItem), run.Name, orDash(string(run.Status.Phase)), orDash(run.Status.Summary))
			for k, m := range run.Status.MetricResults {
				fmt.Fprintf(&b, "%s%s%s metric %s  %s  last %s  passed %d failed %d\n", stem(lastRS), stem(lastItem), branch(k == len(run.Status.MetricResults)-1),
					m.Name, orDash(string(m.Phase)), lastValue(m), m.Successful, m.Failed)
			}
		}
		for j, p := range owned {
			fmt.Fprintf(&b, "%s%s Pod %s  %s\n", stem(lastRS), branch(j == len(owned)-1), p.Name, podState(&p))
		}
	}
	return b.String()
}

// analysesOf are the runs the Rollout controls for the revision of rs, oldest first.
func analysesOf(ro *stepwisev1alpha1.Rollout, rs *appsv1.ReplicaSet, runs []stepwisev1alpha1.AnalysisRun) []stepwisev1alpha1.AnalysisRun {
	var out []stepwisev1alpha1.AnalysisRun
	for _, run := range runs {
		if metav1.IsControlledBy(&run, ro) && run.Labels[stepwisev1alpha1.PodTemplateHashLabel] == rs.Labels[stepwisev1alpha1.PodTemplateHashLabel] {
			out = append(out, run)
		}
	}
	slices.SortFunc(out, func(a, b stepwisev1alpha1.AnalysisRun) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
	})
	return out
}

// lastValue is a metric's latest measured value, or its latest error.
func lastValue(m stepwisev1alpha1.MetricResult) string {
	if len(m.Measurements) == 0 {
		return "-"
	}
	last := m.Measurements[len(m.Measurements)-1]
	if last.Value == "" {
		return fmt.Sprintf("%s (%s)", last.Phase, last.Message)
	}
	return last.Value
}

// progressLines show the canary steps (the current one marked ▶), the partition, the
// blue-green Services with the pod-template-hash they select, and why the rollout is paused.
func progressLines(ro *stepwisev1alpha1.Rollout, selected map[string]string) []string {
	var lines []string
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		line := fmt.Sprintf("Services: active %s → %s", bg.ActiveService, selected[bg.ActiveService])
		if bg.PreviewService != "" {
			line += fmt.Sprintf(" │ preview %s → %s", bg.PreviewService, selected[bg.PreviewService])
		}
		lines = append(lines, line)
	}
	ru := ro.Spec.Strategy.RollingUpdate
	if steps := ru.GetSteps(); len(steps) > 0 {
		current := -1
		if st := ro.Status.Canary; st != nil {
			current = int(st.CurrentStep)
		}
		var parts []string
		for i, step := range steps {
			part := fmt.Sprintf("%d:", i+1)
			if step.Replicas != nil {
				part += " " + step.Replicas.String()
			}
			if step.Analysis != nil {
				part += " analysis"
			}
			switch {
			case step.Pause == nil:
			case step.Pause.DurationSeconds == nil:
				part += " pause"
			default:
				part += fmt.Sprintf(" pause %ds", *step.Pause.DurationSeconds)
			}
			if i == current {
				part = "▶ " + part
			}
			parts = append(parts, part)
		}
		lines = append(lines, "Steps: "+strings.Join(parts, " │ "))
	}
	if ru != nil && ru.Partition != nil {
		lines = append(lines, "Partition: "+ru.Partition.String())
	}
	if c := meta.FindStatusCondition(ro.Status.Conditions, stepwisev1alpha1.ConditionPaused); c != nil && c.Status == metav1.ConditionTrue {
		lines = append(lines, fmt.Sprintf("Paused (%s): %s", c.Reason, c.Message))
	}
	return lines
}

func summary(ro *stepwisev1alpha1.Rollout) string {
	var parts []string
	for _, t := range []string{stepwisev1alpha1.ConditionComplete, stepwisev1alpha1.ConditionProgressing, stepwisev1alpha1.ConditionAvailable} {
		if c := meta.FindStatusCondition(ro.Status.Conditions, t); c != nil {
			parts = append(parts, fmt.Sprintf("%s=%s(%s)", t, c.Status, c.Reason))
		}
	}
	if ro.Spec.Paused {
		parts = append(parts, "PAUSED")
	}
	return strings.Join(parts, " ")
}

func podState(p *corev1.Pod) string {
	switch {
	case p.DeletionTimestamp != nil:
		return string(p.Status.Phase) + "  Terminating"
	case podReady(p):
		return string(p.Status.Phase) + "  Ready"
	}
	return string(p.Status.Phase) + "  NotReady"
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func images(rs *appsv1.ReplicaSet) string {
	var out []string
	for _, c := range rs.Spec.Template.Spec.Containers {
		out = append(out, c.Image)
	}
	return strings.Join(out, ",")
}

func branch(last bool) string {
	if last {
		return "└──"
	}
	return "├──"
}

func stem(last bool) string {
	if last {
		return "    "
	}
	return "│   "
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ptrInt(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
