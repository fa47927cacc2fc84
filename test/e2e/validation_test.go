package e2e

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// validRollout is a good manifest; each case below breaks one thing in it.
const validRollout = `apiVersion: stepwise.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: 3
  minReadySeconds: 5
  revisionHistoryLimit: 4
  progressDeadlineSeconds: 60
  progressDeadlineAction: Rollback
  podReplacementPolicy: TerminationComplete
  progressGates: [example.com/smoke-tested]
  strategy:
` + rollingStrategy + `  selector:
    matchLabels:
      app: web
    matchExpressions:
    - {key: tier, operator: In, values: [front]}
  template:
    metadata:
      labels:
        app: web
        tier: front
    spec:
      restartPolicy: Always
      containers:
      - name: web
        image: nginx:1.27
`

// rollingStrategy is validRollout's strategy below its "strategy:" line.
const rollingStrategy = `    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 1
      partition: 1
      steps:
      - replicas: 1
        pause: {durationSeconds: 30}
      - replicas: 50%
`

// badManifest is a good manifest with from replaced by to, and what its rejection must say.
type badManifest struct {
	name, from, to string
	want           []string // substrings of the rejection
}

// expectRejected applies valid with the case's change: the API server must refuse it, saying
// each of want.
func (e *env) expectRejected(valid string, tc badManifest) {
	e.T.Run(tc.name, func(t *testing.T) {
		bad := strings.Replace(valid, tc.from, tc.to, 1)
		if bad == valid {
			t.Fatalf("case %q changes nothing", tc.name)
		}
		g := NewWithT(t)
		_, err := suite.Kubectl(bad, "apply", "-n", e.NS, "-f", "-")
		g.Expect(err).To(HaveOccurred(), "accepted:\n%s", bad)
		for _, want := range tc.want {
			g.Expect(err.Error()).To(ContainSubstring(want))
		}
	})
}

// TestBadManifestsAreRejectedAtAdmission applies each bad manifest to the API server: it is
// rejected with a message naming the field; the good manifest it came from is accepted.
func TestBadManifestsAreRejectedAtAdmission(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []badManifest{
		{"negative replicas", "replicas: 3", "replicas: -1", []string{"spec.replicas", "greater than or equal to 0"}},
		{"negative minReadySeconds", "minReadySeconds: 5", "minReadySeconds: -5", []string{"spec.minReadySeconds", "greater than or equal to 0"}},
		{"negative revisionHistoryLimit", "revisionHistoryLimit: 4", "revisionHistoryLimit: -1", []string{"spec.revisionHistoryLimit", "greater than or equal to 0"}},
		{"negative progressDeadlineSeconds", "progressDeadlineSeconds: 60", "progressDeadlineSeconds: -1", []string{"spec.progressDeadlineSeconds", "greater than or equal to 0"}},
		{"deadline not above minReadySeconds", "progressDeadlineSeconds: 60", "progressDeadlineSeconds: 5", []string{"spec.progressDeadlineSeconds", "must be greater than minReadySeconds"}},
		{"missing selector", "  selector:\n    matchLabels:\n      app: web\n    matchExpressions:\n    - {key: tier, operator: In, values: [front]}\n", "", []string{"spec.selector", "Required value"}},
		{"empty selector", "  selector:\n    matchLabels:\n      app: web\n    matchExpressions:\n    - {key: tier, operator: In, values: [front]}\n", "  selector: {}\n", []string{"spec.selector", "empty selector is invalid"}},
		{"selector label not in template", "      app: web\n    matchExpressions", "      app: other\n    matchExpressions", []string{"spec.template.metadata.labels", "selector does not match template labels"}},
		{"selector expression not met", "values: [front]", "values: [back]", []string{"spec.template.metadata.labels", "selector does not match template labels"}},
		{"both zero", "maxSurge: 25%\n      maxUnavailable: 1", "maxSurge: 0\n      maxUnavailable: 0", []string{"spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when maxSurge is 0"}},
		{"both zero as percent", "maxSurge: 25%\n      maxUnavailable: 1", "maxSurge: \"0%\"\n      maxUnavailable: \"0%\"", []string{"spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when maxSurge is 0"}},
		{"both zero mixed", "maxSurge: 25%\n      maxUnavailable: 1", "maxSurge: 0%\n      maxUnavailable: 0", []string{"spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when maxSurge is 0"}},
		{"percent without sign", "maxSurge: 25%", "maxSurge: \"25\"", []string{"spec.strategy.rollingUpdate.maxSurge", "percentage"}},
		{"fractional percent", "maxSurge: 25%", "maxSurge: 25.5%", []string{"spec.strategy.rollingUpdate.maxSurge", "percentage"}},
		{"negative percent", "maxSurge: 25%", "maxSurge: -5%", []string{"spec.strategy.rollingUpdate.maxSurge", "percentage"}},
		{"not a number", "maxUnavailable: 1", "maxUnavailable: abc", []string{"spec.strategy.rollingUpdate.maxUnavailable", "percentage"}},
		{"negative integer", "maxUnavailable: 1", "maxUnavailable: -1", []string{"spec.strategy.rollingUpdate.maxUnavailable", "non-negative"}},
		{"maxUnavailable over 100%", "maxUnavailable: 1", "maxUnavailable: 101%", []string{"spec.strategy.rollingUpdate.maxUnavailable", "0% to 100%"}},
		{"Recreate with rollingUpdate", "type: RollingUpdate", "type: Recreate", []string{"spec.strategy.rollingUpdate", "may not be specified when strategy type is 'Recreate'"}},
		{"unknown strategy type", "type: RollingUpdate", "type: Canary", []string{"spec.strategy.type", "Unsupported value", "RollingUpdate", "Recreate", "BlueGreen"}},
		{"BlueGreen with rollingUpdate", "type: RollingUpdate", "type: BlueGreen", []string{"spec.strategy.rollingUpdate", "may not be specified when strategy type is 'BlueGreen'"}},
		{"blueGreen with RollingUpdate", "    type: RollingUpdate\n", "    type: RollingUpdate\n    blueGreen: {activeService: web}\n", []string{"spec.strategy.blueGreen", "must be specified exactly when strategy type is 'BlueGreen'"}},
		{"BlueGreen without activeService", rollingStrategy, "    type: BlueGreen\n    blueGreen: {previewService: web-next}\n", []string{"spec.strategy.blueGreen.activeService", "Required value"}},
		{"negative scaleDownDelaySeconds", rollingStrategy, "    type: BlueGreen\n    blueGreen: {activeService: web, scaleDownDelaySeconds: -1}\n", []string{"spec.strategy.blueGreen.scaleDownDelaySeconds", "greater than or equal to 0"}},
		{"unknown progressDeadlineAction", "progressDeadlineAction: Rollback", "progressDeadlineAction: Explode", []string{"spec.progressDeadlineAction", "Unsupported value", "None", "Pause", "Rollback"}},
		{"unknown podReplacementPolicy", "podReplacementPolicy: TerminationComplete", "podReplacementPolicy: Never", []string{"spec.podReplacementPolicy", "Unsupported value", "TerminationStarted", "TerminationComplete", "ReplicaSetSizes"}},
		{"empty progress gate", "progressGates: [example.com/smoke-tested]", "progressGates: [\"\"]", []string{"spec.progressGates[0]", "at least 1 chars long"}},
		{"partition over 100%", "partition: 1", "partition: 150%", []string{"spec.strategy.rollingUpdate.partition", "0% to 100%"}},
		{"negative partition", "partition: 1", "partition: -2", []string{"spec.strategy.rollingUpdate.partition", "non-negative"}},
		{"negative step", "- replicas: 1", "- replicas: -1", []string{"spec.strategy.rollingUpdate.steps[0].replicas", "non-negative"}},
		{"step over 100%", "replicas: 50%", "replicas: 150%", []string{"spec.strategy.rollingUpdate.steps[1].replicas", "0% to 100%"}},
		{"step without replicas, pause or analysis", "- replicas: 1\n        pause: {durationSeconds: 30}", "- {}", []string{"spec.strategy.rollingUpdate.steps[0]", "a step needs replicas, pause or analysis"}},
		{"analysis step without templates", "- replicas: 50%", "- analysis: {templates: []}", []string{"spec.strategy.rollingUpdate.steps[1].analysis.templates", "at least 1 items"}},
		{"negative startingStep", "      - replicas: 50%\n", "      - replicas: 50%\n      analysis: {templates: [{templateName: t}], startingStep: -1}\n", []string{"spec.strategy.rollingUpdate.analysis.startingStep", "greater than or equal to 0"}},
		{"empty abortOn", "progressGates:", "abortOn: {}\n  progressGates:", []string{"spec.abortOn", "set restarts or waitingReasons"}},
		{"negative abortOn restarts", "progressGates:", "abortOn: {restarts: -1}\n  progressGates:", []string{"spec.abortOn.restarts", "greater than or equal to 0"}},
		{"abortOn with Recreate", "progressGates: [example.com/smoke-tested]\n  strategy:\n" + rollingStrategy, "abortOn: {restarts: 1}\n  strategy:\n    type: Recreate\n", []string{"spec.abortOn", "needs the RollingUpdate strategy"}},
		{"negative pause", "durationSeconds: 30", "durationSeconds: -5", []string{"spec.strategy.rollingUpdate.steps[0].pause.durationSeconds", "greater than or equal to 0"}},
		{"restartPolicy Never", "restartPolicy: Always", "restartPolicy: Never", []string{"spec.template.spec.restartPolicy", "only \"Always\" is supported"}},
		{"name too long for its ReplicaSets", "metadata:\n  name: web", "metadata:\n  name: " + strings.Repeat("w", stepwisev1alpha1.MaxNameLength+1), []string{"metadata.name", "must be no more than 242 characters"}},
	} {
		e.expectRejected(validRollout, tc)
	}
	e.apply(validRollout)

	// The longest name admitted leaves room for its ReplicaSets' names.
	longest := strings.Repeat("w", stepwisev1alpha1.MaxNameLength)
	e.apply(strings.Replace(validRollout, "metadata:\n  name: web", "metadata:\n  name: "+longest, 1))
	e.G.Eventually(func() (string, error) { return suite.Kubectl("", "get", "replicasets", "-n", e.NS, "-o", "name") }).Should(ContainSubstring(longest + "-"))

	// The selector cannot change after creation.
	_, err := suite.Kubectl("", "patch", "rollout/web", "-n", e.NS, "--type=merge", "-p", `{"spec":{"selector":{"matchLabels":{"app":"web","extra":"x"}},"template":{"metadata":{"labels":{"extra":"x"}}}}}`)
	e.G.Expect(err).To(MatchError(And(ContainSubstring("spec.selector"), ContainSubstring("field is immutable"))))
}

// validTemplate is a good AnalysisTemplate; each case below breaks one thing in it.
const validTemplate = `apiVersion: stepwise.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: checks
spec:
  args:
  - name: service
  - name: hash
    valueFrom: {podTemplateHashValue: Latest}
  metrics:
  - name: error-rate
    interval: 30s
    count: 5
    failureLimit: 1
    successCondition: result < 0.05
    provider:
      prometheus:
        address: http://prometheus:9090
        query: sum(rate(errors{service="{{args.service}}"}[1m]))
  - name: health
    provider:
      web:
        url: http://web/health
        jsonPath: $.ok
`

// TestBadAnalysisTemplatesAreRejectedAtAdmission: each bad template is rejected with a message
// naming the field; the good one it came from is accepted, as a ClusterAnalysisTemplate too.
func TestBadAnalysisTemplatesAreRejectedAtAdmission(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []badManifest{
		{"no provider", "    provider:\n      web:\n        url: http://web/health\n        jsonPath: $.ok\n", "    provider: {}\n", []string{"spec.metrics[1].provider", "exactly one provider (job, prometheus or web) must be set"}},
		{"two providers", "      web:\n        url: http://web/health", "      prometheus: {address: http://p, query: up}\n      web:\n        url: http://web/health", []string{"spec.metrics[1].provider", "exactly one provider"}},
		{"negative interval", "interval: 30s", "interval: -30s", []string{"spec.metrics[0].interval", "must be a non-negative duration"}},
		{"interval without a unit", "interval: 30s", "interval: \"30\"", []string{"spec.metrics[0].interval", "must be a non-negative duration"}},
		{"negative count", "count: 5", "count: -5", []string{"spec.metrics[0].count", "greater than or equal to 0"}},
		{"several measurements without an interval", "    interval: 30s\n    count: 5", "    count: 5", []string{"spec.metrics[0].interval", "more than one measurement needs an interval"}},
		{"negative failureLimit", "failureLimit: 1", "failureLimit: -1", []string{"spec.metrics[0].failureLimit", "greater than or equal to 0"}},
		{"negative inconclusiveLimit", "failureLimit: 1", "inconclusiveLimit: -1", []string{"spec.metrics[0].inconclusiveLimit", "greater than or equal to 0"}},
		{"negative consecutiveErrorLimit", "failureLimit: 1", "consecutiveErrorLimit: -1", []string{"spec.metrics[0].consecutiveErrorLimit", "greater than or equal to 0"}},
		{"empty query", `query: sum(rate(errors{service="{{args.service}}"}[1m]))`, `query: ""`, []string{"spec.metrics[0].provider.prometheus.query", "at least 1 chars long"}},
		{"empty URL", "url: http://web/health", `url: ""`, []string{"spec.metrics[1].provider.web.url", "at least 1 chars long"}},
		{"value and valueFrom", "    valueFrom: {podTemplateHashValue: Latest}", "    value: abc\n    valueFrom: {podTemplateHashValue: Latest}", []string{"spec.args[1].valueFrom", "value and valueFrom are mutually exclusive"}},
		{"unknown hash", "podTemplateHashValue: Latest", "podTemplateHashValue: Newest", []string{"spec.args[1].valueFrom.podTemplateHashValue", "Unsupported value", "Stable", "Latest"}},
		{"no metrics", validTemplate[strings.Index(validTemplate, "  metrics:"):], "  metrics: []\n", []string{"spec.metrics", "at least 1 items"}},
		{"duplicate metric", "  - name: health", "  - name: error-rate", []string{"spec.metrics[1]", "Duplicate value"}},
		{"job metric with a condition", "    provider:\n      web:\n        url: http://web/health\n        jsonPath: $.ok\n", "    successCondition: result\n    provider:\n      job:\n        spec:\n          template:\n            spec:\n              containers: [{name: c, image: i}]\n", []string{"spec.metrics[1].successCondition", "a job metric is judged by the Job's outcome"}},
	} {
		e.expectRejected(validTemplate, tc)
	}
	e.apply(validTemplate)
	cluster := strings.Replace(strings.Replace(validTemplate, "kind: AnalysisTemplate", "kind: ClusterAnalysisTemplate", 1), "name: checks", "name: "+e.NS+"-checks", 1)
	e.mustKubectl(cluster, "apply", "-f", "-")
	e.T.Cleanup(func() { _, _ = suite.Kubectl("", "delete", "clusteranalysistemplate", e.NS+"-checks") })
	e.G.Expect(e.mustKubectl("", "get", "at,cat", "-n", e.NS, "-o", "name")).To(Equal(
		"analysistemplate.stepwise.dev/checks\nclusteranalysistemplate.stepwise.dev/" + e.NS + "-checks\n"))
}
