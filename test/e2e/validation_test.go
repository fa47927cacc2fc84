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

// TestBadManifestsAreRejectedAtAdmission applies each bad manifest to the API server: it is
// rejected with a message naming the field; the good manifest it came from is accepted.
func TestBadManifestsAreRejectedAtAdmission(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, from, to string
		want           []string // substrings of the rejection
	}{
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
		{"empty progress gate", "progressGates: [example.com/smoke-tested]", "progressGates: [\"\"]", []string{"spec.progressGates[0]", "at least 1 chars long"}},
		{"partition over 100%", "partition: 1", "partition: 150%", []string{"spec.strategy.rollingUpdate.partition", "0% to 100%"}},
		{"negative partition", "partition: 1", "partition: -2", []string{"spec.strategy.rollingUpdate.partition", "non-negative"}},
		{"negative step", "- replicas: 1", "- replicas: -1", []string{"spec.strategy.rollingUpdate.steps[0].replicas", "non-negative"}},
		{"step over 100%", "replicas: 50%", "replicas: 150%", []string{"spec.strategy.rollingUpdate.steps[1].replicas", "0% to 100%"}},
		{"step without replicas", "- replicas: 1\n        pause", "- pause", []string{"spec.strategy.rollingUpdate.steps[0].replicas", "Required value"}},
		{"negative pause", "durationSeconds: 30", "durationSeconds: -5", []string{"spec.strategy.rollingUpdate.steps[0].pause.durationSeconds", "greater than or equal to 0"}},
		{"restartPolicy Never", "restartPolicy: Always", "restartPolicy: Never", []string{"spec.template.spec.restartPolicy", "only \"Always\" is supported"}},
		{"name too long for its ReplicaSets", "metadata:\n  name: web", "metadata:\n  name: " + strings.Repeat("w", stepwisev1alpha1.MaxNameLength+1), []string{"metadata.name", "must be no more than 242 characters"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(validRollout, tc.from, tc.to, 1)
			if bad == validRollout {
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
	e.apply(validRollout)

	// The longest name admitted leaves room for its ReplicaSets' names.
	longest := strings.Repeat("w", stepwisev1alpha1.MaxNameLength)
	e.apply(strings.Replace(validRollout, "metadata:\n  name: web", "metadata:\n  name: "+longest, 1))
	e.G.Eventually(func() (string, error) { return suite.Kubectl("", "get", "replicasets", "-n", e.NS, "-o", "name") }).Should(ContainSubstring(longest + "-"))

	// The selector cannot change after creation.
	_, err := suite.Kubectl("", "patch", "rollout/web", "-n", e.NS, "--type=merge", "-p", `{"spec":{"selector":{"matchLabels":{"app":"web","extra":"x"}},"template":{"metadata":{"labels":{"extra":"x"}}}}}`)
	e.G.Expect(err).To(MatchError(And(ContainSubstring("spec.selector"), ContainSubstring("field is immutable"))))
}
