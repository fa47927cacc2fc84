package plugin

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// threeRevisions is the Rollout "web" running revision 3 and the ReplicaSets of its revisions
// 1 (nginx:1, "first release"), 2 (nginx:2, no change cause) and 3 (nginx:3, "third release"),
// beside a ReplicaSet of another Rollout's revision 7, which web's verbs must not see; changes
// then edit web.
func threeRevisions(changes ...func(*stepwisev1alpha1.Rollout)) []client.Object {
	atRevision3 := func(ro *stepwisev1alpha1.Rollout) {
		ro.Spec.Template.Spec.Containers[0].Image = "nginx:3"
		ro.Annotations = map[string]string{stepwisev1alpha1.ChangeCauseAnnotation: "third release", stepwisev1alpha1.RevisionAnnotation: "3"}
		ro.Status.CurrentRevision = 3
	}
	web := webRollout(append([]func(*stepwisev1alpha1.Rollout){atRevision3}, changes...)...)
	api := testutil.Rollout("api").Namespace(testNamespace).Obj()
	return objects(web,
		replicaSetOf(web, 1, "nginx:1", "first release", 0),
		replicaSetOf(web, 2, "nginx:2", "", 0),
		replicaSetOf(web, 3, "nginx:3", "third release", 3),
		replicaSetOf(api, 7, "nginx:7", "", 3))
}

// historyRows reads history printed as JSON or YAML back into one line per revision:
// revision, change cause, images, ReplicaSet and the template's labels.
func historyRows(out string) ([]string, error) {
	var entries []revision.Entry
	if err := yaml.Unmarshal([]byte(out), &entries); err != nil {
		return nil, err
	}
	var rows []string
	for _, e := range entries {
		rows = append(rows, fmt.Sprintf("%d %q %s %s %v", e.Revision, e.ChangeCause, strings.Join(e.Images, ","), e.ReplicaSet, e.Template.Labels))
	}
	return rows, nil
}

// templateYAML is web's pod template running image, as YAML with prefix before each line.
func templateYAML(prefix, image string) string {
	lines := []string{"metadata:", "  labels:", "    app: web", "spec:", "  containers:",
		"  - image: " + image, "    name: web", "    resources: {}", "  - image: envoy:1", "    name: sidecar", "    resources: {}"}
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}

func TestHistory(t *testing.T) {
	rows := []string{
		`1 "first release" nginx:1,envoy:1 web-nginx1 map[app:web]`,
		`2 "" nginx:2,envoy:1 web-nginx2 map[app:web]`,
		`3 "third release" nginx:3,envoy:1 web-nginx3 map[app:web]`,
	}
	runVerbCases(t, []verbCase{
		{name: "a table of the revisions, oldest first", objs: threeRevisions(), args: []string{"history", "web"},
			wantOut: `rollout.stepwise.dev/web
REVISION  CHANGE-CAUSE   IMAGES           CREATED
1         first release  nginx:1,envoy:1  2026-01-01T00:01:00Z
2         <none>         nginx:2,envoy:1  2026-01-01T00:02:00Z
3         third release  nginx:3,envoy:1  2026-01-01T00:03:00Z
`},
		{name: "a Rollout without ReplicaSets has an empty table", objs: objects(webRollout()), args: []string{"history", "web"},
			wantOut: "rollout.stepwise.dev/web\nREVISION  CHANGE-CAUSE  IMAGES  CREATED\n"},
		{name: "-o json of a Rollout without ReplicaSets is an empty list", objs: objects(webRollout()), args: []string{"history", "web", "-o", "json"},
			wantOut: "[]\n"},
		{name: "--revision prints its pod template without the hash label", objs: threeRevisions(), args: []string{"history", "web", "--revision=1"},
			wantOut: "rollout \"web\" with revision #1\nReplicaSet: web-nginx1\nChange-cause: first release\nPod Template:\n" + templateYAML("  ", "nginx:1")},
		{name: "-o json", objs: threeRevisions(), args: []string{"history", "web", "-o", "json"},
			outMatches: WithTransform(historyRows, Equal(rows))},
		{name: "-o yaml", objs: threeRevisions(), args: []string{"history", "web", "-o", "yaml"},
			outMatches: WithTransform(historyRows, Equal(rows))},
		{name: "--revision -o yaml", objs: threeRevisions(), args: []string{"history", "web", "--revision=2", "-o", "yaml"},
			wantOut: `created: "2026-01-01T00:02:00Z"
images:
- nginx:2
- envoy:1
replicaSet: web-nginx2
revision: 2
template:
` + templateYAML("  ", "nginx:2")},
		{name: "--revision -o json", objs: threeRevisions(), args: []string{"history", "web", "--revision=3", "-o", "json"},
			outMatches: WithTransform(func(out string) ([]string, error) { return historyRows("[" + out + "]") }, Equal(rows[2:]))},
		{name: "an unknown revision", objs: threeRevisions(), args: []string{"history", "web", "--revision=5"},
			wantErr: `unable to find the specified revision 5 of rollout "web"`},
		{name: "another Rollout's revision is unknown", objs: threeRevisions(), args: []string{"history", "web", "--revision=7"},
			wantErr: `unable to find the specified revision 7 of rollout "web"`},
		{name: "an unknown output format", objs: threeRevisions(), args: []string{"history", "web", "-o", "xml"},
			wantErr: `unable to match a printer for output format "xml": allowed formats are json, yaml`},
		{name: "a missing Rollout", args: []string{"history", "web"}, wantErr: notFound},
		{name: "no name", args: []string{"history"}, wantErr: "exactly one ROLLOUT name is required, got 0 arguments"},
	})
}
