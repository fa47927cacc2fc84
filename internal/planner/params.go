package planner

import (
	"fmt"
	"math"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// Params are a Rollout's resolved sizes.
type Params struct {
	Strategy stepwisev1alpha1.RolloutStrategyType
	// Replicas is spec.replicas (default 1).
	Replicas int32
	// MaxSurge and MaxUnavailable are absolute; both 0 for Recreate.
	MaxSurge, MaxUnavailable int32
	// Partition is the number of pods kept on old revisions, at most Replicas.
	Partition int32
	// StepTargets are the canary steps' pod counts, at most Replicas and never fewer than an
	// earlier step's.
	StepTargets []int32
	// PodReplacement is spec.podReplacementPolicy, TerminationStarted when unset.
	PodReplacement stepwisev1alpha1.PodReplacementPolicy
}

// InvalidSpecError is a Rollout spec the controller cannot act on; retrying will not help.
type InvalidSpecError struct {
	Field, Message string
}

func (e *InvalidSpecError) Error() string { return e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) error {
	return &InvalidSpecError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Resolve checks a Rollout's name and spec and turns its bounds into absolute numbers. It
// repeats the CRD's validation for API servers that skip it.
func Resolve(ro *stepwisev1alpha1.Rollout) (Params, error) {
	if len(ro.Name) > stepwisev1alpha1.MaxNameLength {
		return Params{}, invalid("metadata.name", "must be no more than %d characters, got %d: the Rollout's ReplicaSets are named <name>-<pod-template-hash>, and a ReplicaSet's name holds at most 253",
			stepwisev1alpha1.MaxNameLength, len(ro.Name))
	}
	spec := &ro.Spec
	p := Params{Strategy: spec.Strategy.Type, Replicas: 1}
	if spec.Replicas != nil {
		p.Replicas = *spec.Replicas
	}
	for field, value := range map[string]*int32{"spec.replicas": &p.Replicas, "spec.minReadySeconds": &spec.MinReadySeconds,
		"spec.revisionHistoryLimit": spec.RevisionHistoryLimit, "spec.progressDeadlineSeconds": spec.ProgressDeadlineSeconds} {
		if value != nil && *value < 0 {
			return Params{}, invalid(field, "must be greater than or equal to 0, got %d", *value)
		}
	}
	if d := spec.ProgressDeadlineSeconds; d != nil && *d <= spec.MinReadySeconds {
		return Params{}, invalid("spec.progressDeadlineSeconds", "must be greater than minReadySeconds (%d), got %d", spec.MinReadySeconds, *d)
	}
	if rp := spec.Template.Spec.RestartPolicy; rp != "" && rp != "Always" {
		return Params{}, invalid("spec.template.spec.restartPolicy", "unsupported value %q: only \"Always\" is supported", rp)
	}
	if err := checkSelector(spec.Selector, spec.Template.Labels); err != nil {
		return Params{}, err
	}
	switch spec.ProgressDeadlineAction {
	case "", stepwisev1alpha1.ProgressDeadlineActionNone, stepwisev1alpha1.ProgressDeadlineActionPause, stepwisev1alpha1.ProgressDeadlineActionRollback:
	default:
		return Params{}, invalid("spec.progressDeadlineAction", "unsupported value %q: supported values are None, Pause and Rollback", spec.ProgressDeadlineAction)
	}
	switch p.PodReplacement = spec.PodReplacementPolicy; p.PodReplacement {
	case "":
		p.PodReplacement = stepwisev1alpha1.PodReplacementPolicyTerminationStarted
	case stepwisev1alpha1.PodReplacementPolicyTerminationStarted, stepwisev1alpha1.PodReplacementPolicyTerminationComplete, stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes:
	default:
		return Params{}, invalid("spec.podReplacementPolicy", "unsupported value %q: supported values are TerminationStarted, TerminationComplete and ReplicaSetSizes", spec.PodReplacementPolicy)
	}
	if spec.AbortOn != nil && p.Strategy != "" && p.Strategy != stepwisev1alpha1.RollingUpdateRolloutStrategyType {
		return Params{}, invalid("spec.abortOn", "needs the RollingUpdate strategy: an abort hands the pods back to the stable revision")
	}
	switch p.Strategy {
	case "", stepwisev1alpha1.RollingUpdateRolloutStrategyType:
		p.Strategy = stepwisev1alpha1.RollingUpdateRolloutStrategyType
		surge, unavailable := stepwisev1alpha1.DefaultMaxSurge, stepwisev1alpha1.DefaultMaxUnavailable
		if ru := spec.Strategy.RollingUpdate; ru != nil {
			surge = *intstr.ValueOrDefault(ru.MaxSurge, surge)
			unavailable = *intstr.ValueOrDefault(ru.MaxUnavailable, unavailable)
		}
		if err := checkBounds(surge, unavailable); err != nil {
			return Params{}, err
		}
		var err error
		if p.MaxSurge, p.MaxUnavailable, err = ResolveFenceposts(&surge, &unavailable, p.Replicas); err != nil {
			return Params{}, err
		}
		if ru := spec.Strategy.RollingUpdate; ru != nil {
			if err := p.resolveProgressive(ru); err != nil {
				return Params{}, err
			}
		}
	case stepwisev1alpha1.RecreateRolloutStrategyType, stepwisev1alpha1.BlueGreenRolloutStrategyType:
		if spec.Strategy.RollingUpdate != nil {
			return Params{}, invalid("spec.strategy.rollingUpdate", "may not be specified when strategy type is %s", p.Strategy)
		}
	default:
		return Params{}, invalid("spec.strategy.type", "unsupported value %q: supported values are RollingUpdate, Recreate and BlueGreen", p.Strategy)
	}
	bg := spec.Strategy.BlueGreen
	switch {
	case (p.Strategy == stepwisev1alpha1.BlueGreenRolloutStrategyType) != (bg != nil):
		return Params{}, invalid("spec.strategy.blueGreen", "must be specified exactly when strategy type is BlueGreen")
	case bg == nil:
	case bg.ActiveService == "":
		return Params{}, invalid("spec.strategy.blueGreen.activeService", "a Service name is required")
	case bg.ScaleDownDelaySeconds != nil && *bg.ScaleDownDelaySeconds < 0:
		return Params{}, invalid("spec.strategy.blueGreen.scaleDownDelaySeconds", "must be greater than or equal to 0, got %d", *bg.ScaleDownDelaySeconds)
	case bg.AutoPromotionSeconds != nil && *bg.AutoPromotionSeconds < 0:
		return Params{}, invalid("spec.strategy.blueGreen.autoPromotionSeconds", "must be greater than or equal to 0, got %d", *bg.AutoPromotionSeconds)
	}
	return p, nil
}

// resolveProgressive turns the partition and the canary steps into pod counts.
//
//	replicas 10, partition "25%" → 3 pods stay old (2.5 rounded up)
//	replicas 10, steps 1, "50%", "30%" → 1, 5, 5 (a step never goes below an earlier one)
//	replicas 10, steps "20%", analysis, 100% → 2, 2, 10 (a step without replicas keeps the count)
func (p *Params) resolveProgressive(ru *stepwisev1alpha1.RollingUpdateRollout) error {
	var err error
	if p.Partition, err = podsOfReplicas(ru.Partition, p.Replicas, "spec.strategy.rollingUpdate.partition"); err != nil {
		return err
	}
	previous := int32(0)
	for i, step := range ru.Steps {
		field := fmt.Sprintf("spec.strategy.rollingUpdate.steps[%d]", i)
		if step.Replicas == nil && step.Pause == nil && step.Analysis == nil {
			return invalid(field, "a step needs replicas, pause or analysis")
		}
		target, err := podsOfReplicas(step.Replicas, p.Replicas, field+".replicas")
		if err != nil {
			return err
		}
		if d := step.Pause; d != nil && d.DurationSeconds != nil && *d.DurationSeconds < 0 {
			return invalid(field+".pause.durationSeconds", "must be greater than or equal to 0, got %d", *d.DurationSeconds)
		}
		previous = max(previous, target)
		p.StepTargets = append(p.StepTargets, previous)
	}
	if bg := ru.Analysis; bg != nil && bg.StartingStep != nil && int(*bg.StartingStep) > len(ru.Steps) {
		return invalid("spec.strategy.rollingUpdate.analysis.startingStep", "must be at most the number of steps (%d), got %d", len(ru.Steps), *bg.StartingStep)
	}
	return nil
}

// podsOfReplicas is an int-or-percent count of pods out of replicas: a percentage (at most
// 100%) rounds up, and no count exceeds replicas.
func podsOfReplicas(v *intstr.IntOrString, replicas int32, field string) (int32, error) {
	if v != nil && v.Type == intstr.String {
		if percent, err := scaledValue(v, 100, false, field); err != nil {
			return 0, err
		} else if percent > 100 {
			return 0, invalid(field, "must not be greater than 100%%, got %q", v.StrVal)
		}
	}
	n, err := scaledValue(v, replicas, true, field)
	return min(n, replicas), err
}

// checkBounds rejects what a Deployment's validation rejects: maxUnavailable over 100%, and
// both bounds zero in any spelling (0, "0%").
func checkBounds(surge, unavailable intstr.IntOrString) error {
	const field = "spec.strategy.rollingUpdate.maxUnavailable"
	u, err := scaledValue(&unavailable, 100, false, field)
	if err != nil {
		return err
	}
	if unavailable.Type == intstr.String && u > 100 {
		return invalid(field, "must not be greater than 100%%, got %q", unavailable.StrVal)
	}
	s, err := scaledValue(&surge, 100, true, "spec.strategy.rollingUpdate.maxSurge")
	if err != nil {
		return err
	}
	if s == 0 && u == 0 {
		return invalid(field, "may not be 0 when maxSurge is 0")
	}
	return nil
}

func checkSelector(selector *metav1.LabelSelector, templateLabels map[string]string) error {
	if selector == nil || (len(selector.MatchLabels) == 0 && len(selector.MatchExpressions) == 0) {
		return invalid("spec.selector", "a non-empty selector is required")
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return invalid("spec.selector", "%v", err)
	}
	if !sel.Matches(labels.Set(templateLabels)) {
		return invalid("spec.template.metadata.labels", "selector does not match template labels")
	}
	return nil
}

// ResolveFenceposts turns maxSurge and maxUnavailable into pod counts for `desired` replicas:
// a percentage of maxSurge rounds up, one of maxUnavailable rounds down, and when both come to
// 0, maxUnavailable becomes 1 so the rollout can move. maxUnavailable never exceeds desired.
//
//	desired 10, 25%/25%  → surge 3 (2.5 up), unavailable 2 (2.5 down)
//	desired 3,  1/1      → surge 1, unavailable 1
//	desired 1,  25%/25%  → surge 1 (0.25 up), unavailable 0
//	desired 3,  0/10%    → surge 0, unavailable 1 (0.3 down is 0, raised to 1)
//	desired 2,  0/5      → surge 0, unavailable 2 (capped at desired)
func ResolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, desired int32) (surge, unavailable int32, err error) {
	s, err := scaledValue(maxSurge, desired, true, "spec.strategy.rollingUpdate.maxSurge")
	if err != nil {
		return 0, 0, err
	}
	u, err := scaledValue(maxUnavailable, desired, false, "spec.strategy.rollingUpdate.maxUnavailable")
	if err != nil {
		return 0, 0, err
	}
	if s == 0 && u == 0 {
		u = 1
	}
	if desired == 0 {
		u = 0
	}
	// An absurd surge must not overflow replicas + maxSurge; it cannot mean more than that.
	return min(s, math.MaxInt32-desired), min(u, desired), nil
}

// scaledValue is an int-or-percent as a count of `total`: an integer as is, "N%" as N% of
// total, rounded up or down. Anything else ("25", "25.5%", "-5%", a negative integer) is an
// error naming the field.
func scaledValue(v *intstr.IntOrString, total int32, roundUp bool, field string) (int32, error) {
	if v == nil {
		return 0, nil
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return 0, invalid(field, "must be greater than or equal to 0, got %d", v.IntVal)
		}
		return v.IntVal, nil
	}
	s := v.StrVal
	percent, err := strconv.ParseInt(s[:max(0, len(s)-1)], 10, 32)
	if len(s) < 2 || s[len(s)-1] != '%' || err != nil || s[0] == '+' || s[0] == '-' {
		return 0, invalid(field, "must be an integer or a percentage like \"25%%\", got %q", s)
	}
	// Both factors fit in 32 bits, so the product fits in 64.
	scaled := percent * int64(total)
	if roundUp {
		scaled += 99
	}
	return int32(min(scaled/100, math.MaxInt32)), nil
}

// sizeAnnotationsNeedUpdate reports whether rs records a different Rollout size.
func sizeAnnotationsNeedUpdate(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	return rs.Annotations[stepwisev1alpha1.DesiredReplicasAnnotation] != strconv.Itoa(int(desired)) ||
		rs.Annotations[stepwisev1alpha1.MaxReplicasAnnotation] != strconv.Itoa(int(maxReplicas))
}

func setSizeAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[stepwisev1alpha1.DesiredReplicasAnnotation] = strconv.Itoa(int(desired))
	rs.Annotations[stepwisev1alpha1.MaxReplicasAnnotation] = strconv.Itoa(int(maxReplicas))
}

// sizeAnnotation reads a size annotation; ok is false when it is absent or malformed.
func sizeAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	n, err := strconv.ParseInt(rs.Annotations[key], 10, 32)
	return int32(n), err == nil
}
