package analysis

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// The analysis points outside canary steps.
const (
	BackgroundPoint    = "background"
	PrePromotionPoint  = "pre-promotion"
	PostPromotionPoint = "post-promotion"
)

// StepPoint is the analysis point of canary step i (counted from 0), named from 1 as people
// count steps.
func StepPoint(i int32) string { return fmt.Sprintf("step-%d", i+1) }

// RunInput is what a run is built from.
type RunInput struct {
	Rollout *stepwisev1alpha1.Rollout
	// Point is where in the rollout the run belongs (StepPoint, BackgroundPoint).
	Point string
	// Attempt is the rollout attempt (status.canary.attempt).
	Attempt int32
	// Revision and Hash are the new revision's number and pod-template-hash; StableHash the
	// stable revision's ("" when there is none).
	Revision         int64
	Hash, StableHash string
	Analysis         *stepwisev1alpha1.RolloutAnalysis
	// Templates are the specs of Analysis.Templates, in the same order; nil for one that does
	// not exist.
	Templates []*stepwisev1alpha1.AnalysisTemplateSpec
}

// InvalidAnalysisError is an analysis that cannot start: a missing template or argument, a
// condition that does not compile. Retrying will not help until the analysis changes.
type InvalidAnalysisError struct{ Message string }

func (e *InvalidAnalysisError) Error() string { return e.Message }

func invalid(format string, args ...any) error {
	return &InvalidAnalysisError{Message: fmt.Sprintf(format, args...)}
}

// NewRun is the AnalysisRun of in: named <rollout>-<revision>-<point> (with -retry<N> from the
// first retry on), labelled with its point, attempt and hash, controlled by the Rollout, its
// templates' metrics merged with the arguments substituted. When the analysis cannot start
// the run is still returned, the reason in spec.invalid (it ends Error with it), together with
// an InvalidAnalysisError: the run records the failure where people look for it.
func NewRun(in RunInput) (*stepwisev1alpha1.AnalysisRun, error) {
	ro := in.Rollout
	name := fmt.Sprintf("-%d-%s", in.Revision, in.Point)
	if in.Attempt > 0 {
		name += fmt.Sprintf("-retry%d", in.Attempt)
	}
	name = truncate(ro.Name, 253-len(name)) + name
	run := &stepwisev1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ro.Namespace,
			Labels: map[string]string{
				stepwisev1alpha1.AnalysisPointLabel:    in.Point,
				stepwisev1alpha1.AnalysisAttemptLabel:  strconv.Itoa(int(in.Attempt)),
				stepwisev1alpha1.AnalysisRevisionLabel: strconv.FormatInt(in.Revision, 10),
				stepwisev1alpha1.PodTemplateHashLabel:  in.Hash,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, stepwisev1alpha1.GroupVersion.WithKind("Rollout"))},
		},
	}
	metrics, args, err := resolve(in)
	if err != nil {
		run.Spec.Invalid = err.Error()
		return run, err
	}
	run.Spec.Metrics, run.Spec.Args = metrics, args
	return run, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// resolve merges the templates' metrics and resolves and substitutes their arguments.
func resolve(in RunInput) ([]stepwisev1alpha1.Metric, []stepwisev1alpha1.Argument, error) {
	var declared []stepwisev1alpha1.Argument
	var metrics []stepwisev1alpha1.Metric
	seen := map[string]string{}
	for i, ref := range in.Analysis.Templates {
		kind := "AnalysisTemplate"
		if ref.ClusterScope {
			kind = "ClusterAnalysisTemplate"
		}
		spec := in.Templates[i]
		if spec == nil {
			return nil, nil, invalid("%s %q not found", kind, ref.TemplateName)
		}
		declared = append(declared, spec.Args...)
		for _, m := range spec.Metrics {
			if other, dup := seen[m.Name]; dup {
				return nil, nil, invalid("metric %q is in both %s and %q: metric names must be unique within an analysis", m.Name, other, ref.TemplateName)
			}
			seen[m.Name] = strconv.Quote(ref.TemplateName)
			metrics = append(metrics, *m.DeepCopy())
		}
	}
	values, args, err := resolveArgs(in, append(declared, in.Analysis.Args...))
	if err != nil {
		return nil, nil, err
	}
	for i := range metrics {
		m := &metrics[i]
		if err := substitute(m, values); err != nil {
			return nil, nil, invalid("metric %q: %v", m.Name, err)
		}
		if _, err := Compile(m); err != nil {
			return nil, nil, invalid("%v", err)
		}
		if err := checkDurations(m); err != nil {
			return nil, nil, invalid("%v", err)
		}
	}
	return metrics, args, nil
}

// resolveArgs gives every argument its value; a later declaration of a name (the Rollout's
// after the templates') wins.
func resolveArgs(in RunInput, declared []stepwisev1alpha1.Argument) (map[string]string, []stepwisev1alpha1.Argument, error) {
	byName := map[string]stepwisev1alpha1.Argument{}
	var order []string
	for _, a := range declared {
		if _, ok := byName[a.Name]; !ok {
			order = append(order, a.Name)
		}
		if prev, ok := byName[a.Name]; ok && a.Value == nil && a.ValueFrom == nil {
			a = prev // a declaration without a value keeps the earlier one's
		}
		byName[a.Name] = a
	}
	values := map[string]string{}
	var resolved []stepwisev1alpha1.Argument
	for _, name := range order {
		v, err := argValue(in, byName[name])
		if err != nil {
			return nil, nil, err
		}
		values[name] = v
		resolved = append(resolved, stepwisev1alpha1.Argument{Name: name, Value: &v})
	}
	return values, resolved, nil
}

func argValue(in RunInput, a stepwisev1alpha1.Argument) (string, error) {
	switch {
	case a.Value != nil:
		return *a.Value, nil
	case a.ValueFrom == nil:
		return "", invalid("argument %q has no value: give it one in the Rollout's analysis args", a.Name)
	case a.ValueFrom.PodTemplateHashValue != nil:
		if *a.ValueFrom.PodTemplateHashValue == stepwisev1alpha1.PodTemplateHashLatest {
			return in.Hash, nil
		}
		if in.StableHash == "" {
			return "", invalid("argument %q: the Rollout has no stable revision", a.Name)
		}
		return in.StableHash, nil
	case a.ValueFrom.FieldRef != nil:
		raw, err := json.Marshal(in.Rollout)
		if err != nil {
			return "", err
		}
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return "", err
		}
		v, err := Lookup(doc, a.ValueFrom.FieldRef.FieldPath)
		if err != nil {
			return "", invalid("argument %q: fieldRef: %v", a.Name, err)
		}
		if s, ok := v.(string); ok {
			return s, nil
		}
		out, err := json.Marshal(v)
		return string(out), err
	}
	return "", invalid("argument %q: valueFrom sets nothing", a.Name)
}

var argRef = regexp.MustCompile(`{{\s*args\.([A-Za-z0-9_-]+)\s*}}`)

// substitute replaces {{args.NAME}} in the metric's conditions and in every string of its
// provider; an unknown name is an error.
func substitute(m *stepwisev1alpha1.Metric, values map[string]string) error {
	var missing string
	replace := func(in []byte, inJSON bool) []byte {
		return argRef.ReplaceAllFunc(in, func(ref []byte) []byte {
			name := string(argRef.FindSubmatch(ref)[1])
			v, ok := values[name]
			if !ok {
				missing = name
				return ref
			}
			if !inJSON {
				return []byte(v)
			}
			quoted, _ := json.Marshal(v)
			return quoted[1 : len(quoted)-1] // inside a JSON string already
		})
	}
	m.SuccessCondition = string(replace([]byte(m.SuccessCondition), false))
	m.FailureCondition = string(replace([]byte(m.FailureCondition), false))
	raw, err := json.Marshal(m.Provider)
	if err != nil {
		return err
	}
	out := replace(raw, true)
	if missing != "" {
		return fmt.Errorf("{{args.%s}} names no argument", missing)
	}
	m.Provider = stepwisev1alpha1.MetricProvider{}
	return json.Unmarshal(out, &m.Provider)
}

// checkDurations parses a metric's durations, which admission checked only by their form.
func checkDurations(m *stepwisev1alpha1.Metric) error {
	durations := map[string]*stepwisev1alpha1.Duration{"interval": m.Interval, "initialDelay": m.InitialDelay}
	if p := m.Provider.Prometheus; p != nil {
		durations["provider.prometheus.timeout"] = p.Timeout
	}
	if w := m.Provider.Web; w != nil {
		durations["provider.web.timeout"] = w.Timeout
	}
	for field, d := range durations {
		if _, err := ParseDuration(d); err != nil {
			return fmt.Errorf("metric %q: %s: %w", m.Name, field, err)
		}
	}
	return nil
}
