// Package migration turns a Deployment into a Rollout and back without a pod restarted: the
// objects each side writes, and the revision bookkeeping its ReplicaSets carry. It is pure; the
// plugin's migrate verb does the writes, and the controller converts a Deployment's
// ReplicaSet annotations when it adopts one.
package migration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsjson "sigs.k8s.io/json"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
)

// The Deployment controller's bookkeeping on Deployments and their ReplicaSets.
const (
	DeploymentRevisionAnnotation        = "deployment.kubernetes.io/revision"
	DeploymentRevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	DeploymentDesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	DeploymentMaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
)

// bookkeeping pairs each Deployment annotation with Stepwise's of the same meaning.
var bookkeeping = [][2]string{
	{DeploymentRevisionAnnotation, stepwisev1alpha1.RevisionAnnotation},
	{DeploymentRevisionHistoryAnnotation, stepwisev1alpha1.RevisionHistoryAnnotation},
	{DeploymentDesiredReplicasAnnotation, stepwisev1alpha1.DesiredReplicasAnnotation},
	{DeploymentMaxReplicasAnnotation, stepwisev1alpha1.MaxReplicasAnnotation},
}

// FromDeployment moves a ReplicaSet's Deployment bookkeeping (revision, revision history, the
// sizes proportional scaling reads) to Stepwise's annotations, for a ReplicaSet a Rollout
// adopts. A ReplicaSet with a Deployment revision was last run by a Deployment, so its
// numbers replace any Stepwise ones it still carries from an earlier migration. It reports
// whether annotations changed.
func FromDeployment(annotations map[string]string) bool {
	return move(annotations, 0, 1)
}

// ToDeployment is FromDeployment's reverse, for a ReplicaSet a Deployment will adopt; the
// Stepwise annotations stay until the Deployment has adopted it (StripStepwise), so that the
// Rollout, if the migration stops before, still reads its revisions.
func ToDeployment(annotations map[string]string) bool {
	changed := false
	for _, pair := range bookkeeping {
		v, ok := annotations[pair[1]]
		old, had := annotations[pair[0]]
		switch {
		case ok && (!had || old != v):
			annotations[pair[0]] = v
			changed = true
		case !ok && had: // left from an earlier life under a Deployment
			delete(annotations, pair[0])
			changed = true
		}
	}
	return changed
}

// StripStepwise drops Stepwise's bookkeeping (and the migration's mark) from a
// ReplicaSet a Deployment has adopted. It reports whether annotations changed.
func StripStepwise(annotations map[string]string) bool {
	changed := false
	for _, pair := range bookkeeping {
		if _, ok := annotations[pair[1]]; ok {
			delete(annotations, pair[1])
			changed = true
		}
	}
	if _, ok := annotations[stepwisev1alpha1.MigratedFromAnnotation]; ok { // the Deployment controller copies it from the Deployment
		delete(annotations, stepwisev1alpha1.MigratedFromAnnotation)
		changed = true
	}
	return changed
}

// move sets the annotations of column to from those of column from, when the ReplicaSet has a
// revision in column from, dropping column from's and the to-side entries from has no value
// for (they describe an older life of the ReplicaSet).
func move(annotations map[string]string, from, to int) bool {
	if annotations[bookkeeping[0][from]] == "" {
		return false
	}
	for _, pair := range bookkeeping {
		if v, ok := annotations[pair[from]]; ok {
			annotations[pair[to]] = v
			delete(annotations, pair[from])
		} else {
			delete(annotations, pair[to])
		}
	}
	return true
}

// Source is what the target of a migration records about the object it replaces, in its
// stepwise.dev/migrated-from annotation.
type Source struct {
	Kind string `json:"kind"`
	UID  string `json:"uid"`
	// Paused: the source was paused, so the target stays paused once handed over.
	Paused bool `json:"paused"`
}

// SourceOf reads the migrated-from annotation of a migration's target (ok false when it has none).
func SourceOf(annotations map[string]string) (Source, bool, error) {
	raw, ok := annotations[stepwisev1alpha1.MigratedFromAnnotation]
	if !ok {
		return Source{}, false, nil
	}
	var s Source
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return Source{}, true, fmt.Errorf("annotation %s: %w", stepwisev1alpha1.MigratedFromAnnotation, err)
	}
	return s, true, nil
}

func (s Source) String() string {
	data, _ := json.Marshal(s) // a struct of strings and a bool always marshals
	return string(data)
}

// skippedOnRollout are the Deployment annotations a Rollout made from it does not carry: the
// Deployment's own bookkeeping, which the controller rewrites as Stepwise's.
var skippedOnRollout = []string{DeploymentRevisionAnnotation, DeploymentRevisionHistoryAnnotation, DeploymentDesiredReplicasAnnotation, DeploymentMaxReplicasAnnotation}

// Rollout is the Rollout that replaces d: the same name, labels, annotations (the change cause
// among them) and spec, created paused (a re-run or the migration's last step resumes it
// unless d was paused) and marked with its migrated-from annotation.
func Rollout(d *appsv1.Deployment) (*stepwisev1alpha1.Rollout, error) {
	ro := &stepwisev1alpha1.Rollout{
		TypeMeta: metav1.TypeMeta{APIVersion: stepwisev1alpha1.GroupVersion.String(), Kind: "Rollout"},
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name, Namespace: d.Namespace, Labels: clone(d.Labels),
			Annotations: convertAnnotations(d.Annotations, skippedOnRollout, stepwisev1alpha1.GroupVersion.String(), "Rollout"),
		},
	}
	data, err := json.Marshal(d.Spec)
	if err != nil {
		return nil, fmt.Errorf("encoding the Deployment's spec: %w", err)
	}
	if err := json.Unmarshal(data, &ro.Spec); err != nil {
		return nil, fmt.Errorf("decoding the Deployment's spec as a Rollout's: %w", err)
	}
	ro.Spec.Paused = true
	ro.Annotations[stepwisev1alpha1.MigratedFromAnnotation] = Source{Kind: "Deployment", UID: string(d.UID), Paused: d.Spec.Paused}.String()
	return ro, nil
}

// Deployment is the Deployment that replaces ro: the same name, labels, annotations and spec,
// its template exactly the current ReplicaSet's without the hash label (the Deployment
// controller compares templates as stored, so this one finds that ReplicaSet whatever hash it
// carries), created paused and marked with its migrated-from annotation. current may be nil when
// the Rollout's current template has no ReplicaSet yet. Fields a Deployment cannot express
// are an error that names them all.
func Deployment(ro *stepwisev1alpha1.Rollout, current *appsv1.ReplicaSet) (*appsv1.Deployment, error) {
	spec := ro.Spec.DeepCopy()
	spec.Paused = false
	if spec.Strategy.Type == stepwisev1alpha1.BlueGreenRolloutStrategyType {
		spec.Strategy.Type = "" // reported below, with spec.strategy.blueGreen
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encoding the Rollout's spec: %w", err)
	}
	d := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name: ro.Name, Namespace: ro.Namespace, Labels: clone(ro.Labels),
			Annotations: convertAnnotations(ro.Annotations, []string{stepwisev1alpha1.RevisionAnnotation, stepwisev1alpha1.RevisionHistoryAnnotation,
				stepwisev1alpha1.DesiredReplicasAnnotation, stepwisev1alpha1.MaxReplicasAnnotation, stepwisev1alpha1.RollbackRequestAnnotation, stepwisev1alpha1.MigratedFromAnnotation}, "apps/v1", "Deployment"),
		},
	}
	strictErrs, err := sigsjson.UnmarshalStrict(data, &d.Spec)
	if err != nil {
		return nil, fmt.Errorf("decoding the Rollout's spec as a Deployment's: %w", err)
	}
	if len(strictErrs) > 0 {
		var fields []string
		for _, e := range strictErrs {
			fields = append(fields, "spec."+strings.TrimPrefix(strings.Trim(strings.TrimPrefix(e.Error(), "unknown field "), `"`), "spec."))
		}
		slices.Sort(fields)
		return nil, fmt.Errorf("rollout %s uses what a Deployment cannot express: %s; remove it from the Rollout first", ro.Name, strings.Join(fields, ", "))
	}
	if current != nil {
		d.Spec.Template = *current.Spec.Template.DeepCopy()
		delete(d.Spec.Template.Labels, stepwisev1alpha1.PodTemplateHashLabel)
	}
	d.Spec.Paused = true
	d.Annotations[stepwisev1alpha1.MigratedFromAnnotation] = Source{Kind: "Rollout", UID: string(ro.UID), Paused: ro.Spec.Paused}.String()
	return d, nil
}

// convertAnnotations copies annotations without the skipped ones, and rewrites kubectl apply's
// record of the last applied manifest to the new kind, so that the next `kubectl apply` of
// the converted manifest computes its three-way merge from what was applied.
func convertAnnotations(annotations map[string]string, skipped []string, apiVersion, kind string) map[string]string {
	out := map[string]string{}
	for k, v := range annotations {
		if !slices.Contains(skipped, k) {
			out[k] = v
		}
	}
	if applied, ok := out[corev1.LastAppliedConfigAnnotation]; ok {
		var manifest map[string]any
		if err := json.Unmarshal([]byte(applied), &manifest); err != nil {
			delete(out, corev1.LastAppliedConfigAnnotation) // not kubectl's: nothing to carry
		} else {
			manifest["apiVersion"], manifest["kind"] = apiVersion, kind
			data, _ := json.Marshal(manifest) // decoded from JSON: always encodes
			out[corev1.LastAppliedConfigAnnotation] = string(data)
		}
	}
	return out
}

func clone(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Overlap reports whether two workloads may claim each other's pods: either selector selects
// the other's pod template labels.
func Overlap(selectorA *metav1.LabelSelector, templateA map[string]string, selectorB *metav1.LabelSelector, templateB map[string]string) bool {
	selects := func(selector *metav1.LabelSelector, template map[string]string) bool {
		s, err := metav1.LabelSelectorAsSelector(selector)
		return err == nil && !s.Empty() && s.Matches(labels.Set(template))
	}
	return selects(selectorA, templateB) || selects(selectorB, templateA)
}

// CurrentReplicaSet is the ReplicaSet among rss whose template is template's (ignoring the
// hash label), oldest first as both controllers pick it; nil when none is.
func CurrentReplicaSet(template *corev1.PodTemplateSpec, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := slices.Clone(rss)
	slices.SortFunc(sorted, revision.CompareByAge)
	for _, rs := range sorted {
		if revision.EqualIgnoreHash(template, &rs.Spec.Template) {
			return rs
		}
	}
	return nil
}

// DeploymentSettled reports whether a Deployment has finished its latest rollout (the checks
// of `kubectl rollout status`), and if not, why.
func DeploymentSettled(d *appsv1.Deployment) (bool, string) {
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		return false, "the Deployment controller has not yet observed its latest spec"
	case st.UpdatedReplicas < replicas:
		return false, fmt.Sprintf("%d of %d pods run the latest template", st.UpdatedReplicas, replicas)
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("%d pods of older revisions remain", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		return false, fmt.Sprintf("%d of %d updated pods are available", st.AvailableReplicas, st.UpdatedReplicas)
	}
	return true, ""
}
