// Package analysis is the pure part of Stepwise's analysis: it builds an AnalysisRun from
// templates and arguments, judges measurements with CEL conditions, keeps a metric's counters
// and decides when the next measurement is due and how a run ends. It reads no clock, calls no
// API and logs nothing: the AnalysisRun reconciler takes the measurements and applies what it
// returns.
package analysis

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// conditionEnv declares the one variable a condition sees, `result`, as dynamic: a number, a
// list of numbers, or decoded JSON. Numbers of different types compare as numbers, so
// `result < 1` holds for a result of 0.5.
var conditionEnv = mustEnv()

func mustEnv() *cel.Env {
	env, err := cel.NewEnv(cel.Variable("result", cel.DynType), cel.CrossTypeNumericComparisons(true))
	if err != nil {
		panic(fmt.Sprintf("CEL environment: %v", err))
	}
	return env
}

// maxConditionCost bounds what one evaluation may cost (CEL's runtime cost units): a template
// cannot make the controller spin on a nested comprehension over a large result.
const maxConditionCost = 1_000_000

// Conditions are a metric's compiled success and failure conditions (nil when absent).
type Conditions struct {
	success, failure cel.Program
}

// Compile compiles a metric's conditions; the error names the condition and carries CEL's
// message.
func Compile(m *stepwisev1alpha1.Metric) (Conditions, error) {
	var c Conditions
	var err error
	if c.success, err = compileOne(m.SuccessCondition); err != nil {
		return c, fmt.Errorf("metric %q: successCondition %q: %w", m.Name, m.SuccessCondition, err)
	}
	if c.failure, err = compileOne(m.FailureCondition); err != nil {
		return c, fmt.Errorf("metric %q: failureCondition %q: %w", m.Name, m.FailureCondition, err)
	}
	return c, nil
}

func compileOne(expr string) (cel.Program, error) {
	if expr == "" {
		return nil, nil
	}
	ast, iss := conditionEnv.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	return conditionEnv.Program(ast, cel.CostLimit(maxConditionCost))
}

// Judge is a measurement's phase for result, as in Argo Rollouts: Failed when the failure
// condition holds, Successful when the success condition holds, Inconclusive when neither
// does. A metric with only one condition takes the other as its negation, and one without
// conditions passes every result. A condition that cannot be evaluated on this result (a field
// the JSON lacks, a string compared with a number) is an error.
func (c Conditions) Judge(result any) (stepwisev1alpha1.AnalysisPhase, error) {
	failed, err := evaluate(c.failure, result)
	switch {
	case err != nil:
		return "", fmt.Errorf("failureCondition: %w", err)
	case failed:
		return stepwisev1alpha1.AnalysisPhaseFailed, nil // whatever the success condition says
	case c.success == nil:
		return stepwisev1alpha1.AnalysisPhaseSuccessful, nil // no condition, or only a failure one
	}
	passed, err := evaluate(c.success, result)
	switch {
	case err != nil:
		return "", fmt.Errorf("successCondition: %w", err)
	case passed:
		return stepwisev1alpha1.AnalysisPhaseSuccessful, nil
	case c.failure == nil:
		return stepwisev1alpha1.AnalysisPhaseFailed, nil // only a success condition
	}
	return stepwisev1alpha1.AnalysisPhaseInconclusive, nil
}

// evaluate runs prg on result; an absent condition holds for no result.
func evaluate(prg cel.Program, result any) (bool, error) {
	if prg == nil {
		return false, nil
	}
	out, _, err := prg.Eval(map[string]any{"result": result})
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("evaluates to %s, not a bool", out.Type().TypeName())
	}
	return bool(b), nil
}
