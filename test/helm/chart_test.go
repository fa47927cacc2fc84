package helm

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestChartLints(t *testing.T) {
	for _, values := range []string{
		"",
		"manager: {watchNamespace: apps, replicas: 2}\nmetrics: {enable: true}\nprometheus: {enable: true}",
	} {
		helm(t, "lint", "--strict", chartDir, "-f", valuesFile(t, values))
	}
}

// What the chart renders and what config/ renders are compared field by field: the CRD, every
// permission and the Deployment's pod spec (security settings, probes, resources, args) must
// not drift apart. Labels, selectors and the image pull policy may differ.
var comparedFields = map[string][][]string{
	"CustomResourceDefinition": {{"spec"}, {"metadata", "annotations"}},
	"ClusterRole":              {{"rules"}},
	"Role":                     {{"rules"}},
	"ClusterRoleBinding":       {{"roleRef"}, {"subjects"}},
	"RoleBinding":              {{"roleRef"}, {"subjects"}},
	"ServiceAccount":           {},
	"Service":                  {{"spec", "ports"}},
	"Deployment":               {{"spec", "replicas"}, {"spec", "template", "spec"}},
}

// Released as "stepwise" in stepwise-system, the chart with its default values renders what
// config/default installs (but the Namespace, which Helm's --create-namespace makes), and with
// metrics on what config/metrics installs.
func TestChartRendersWhatTheManifestsInstall(t *testing.T) {
	for _, tc := range []struct{ values, config string }{
		{"", "default"},
		{"metrics: {enable: true}", "metrics"},
	} {
		t.Run(tc.config, func(t *testing.T) {
			g := NewWithT(t)
			chart := render(t, "stepwise", "stepwise-system", tc.values)
			var manifests []*unstructured.Unstructured
			for _, obj := range kustomize(t, tc.config) {
				if obj.GetKind() != "Namespace" {
					manifests = append(manifests, obj)
				}
			}
			g.Expect(kinds(chart)).To(ConsistOf(kinds(manifests)))
			for _, want := range manifests {
				got := find(chart, want.GetKind(), want.GetName())
				g.Expect(got).NotTo(BeNil())
				paths, ok := comparedFields[want.GetKind()]
				if !ok {
					t.Errorf("%s %s: no fields to compare for its kind; add them to comparedFields", want.GetKind(), want.GetName())
					continue
				}
				switch want.GetKind() {
				case "CustomResourceDefinition":
					annotations := got.GetAnnotations()
					g.Expect(annotations).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
					delete(annotations, "helm.sh/resource-policy")
					got.SetAnnotations(annotations)
				case "Deployment":
					for _, container := range field(g, got, "spec", "template", "spec", "containers").([]any) {
						g.Expect(container).To(HaveKeyWithValue("imagePullPolicy", "IfNotPresent"))
						delete(container.(map[string]any), "imagePullPolicy")
					}
				}
				for _, path := range paths {
					g.Expect(field(g, got, path...)).To(Equal(field(g, want, path...)), "%s %s: %s", want.GetKind(), want.GetName(), strings.Join(path, "."))
				}
			}
		})
	}
}

// In namespace-only mode the controller's permissions are a Role in the watched namespace, with
// the generated ClusterRole's rules, bound to the ServiceAccount in the release's namespace.
func TestNamespaceOnlyModeRendersARole(t *testing.T) {
	g := NewWithT(t)
	clusterWide := kustomize(t, "default")
	chart := render(t, "stepwise", "stepwise-system", "manager: {watchNamespace: apps}")

	for _, obj := range chart {
		g.Expect(obj.GetKind()).NotTo(BeElementOf("ClusterRole", "ClusterRoleBinding"), obj.GetName())
	}
	role := find(chart, "Role", "stepwise-controller")
	g.Expect(role).NotTo(BeNil())
	g.Expect(role.GetNamespace()).To(Equal("apps"))
	g.Expect(field(g, role, "rules")).To(Equal(field(g, find(clusterWide, "ClusterRole", "stepwise-controller"), "rules")))
	binding := find(chart, "RoleBinding", "stepwise-controller")
	g.Expect(binding).NotTo(BeNil())
	g.Expect(binding.GetNamespace()).To(Equal("apps"))
	g.Expect(field(g, binding, "roleRef")).To(HaveKeyWithValue("kind", "Role"))
	g.Expect(field(g, binding, "subjects")).To(ConsistOf(map[string]any{"kind": "ServiceAccount", "name": "stepwise-controller", "namespace": "stepwise-system"}))
	g.Expect(args(g, chart)).To(ContainElement("--namespace=apps"))

	// The metrics endpoint authorizes scrapers through cluster-scoped reviews: those two
	// ClusterRoles are the only cluster-wide permissions in this mode.
	var clusterRoles []string
	for _, obj := range render(t, "stepwise", "stepwise-system", "manager: {watchNamespace: apps}\nmetrics: {enable: true}") {
		if obj.GetKind() == "ClusterRole" {
			clusterRoles = append(clusterRoles, obj.GetName())
		}
	}
	g.Expect(clusterRoles).To(ConsistOf("stepwise-metrics-auth", "stepwise-metrics-reader"))
}

func TestMetricsAndServiceMonitor(t *testing.T) {
	g := NewWithT(t)
	off := render(t, "stepwise", "stepwise-system", "")
	g.Expect(kinds(off)).NotTo(ContainElement(HavePrefix("Service ")))
	g.Expect(kinds(off)).NotTo(ContainElement(HavePrefix("ServiceMonitor ")))
	g.Expect(args(g, off)).To(ContainElement("--metrics-bind-address=0"))

	on := render(t, "stepwise", "stepwise-system", "metrics: {enable: true, port: 9443}\nprometheus: {enable: true, labels: {release: prometheus}}")
	g.Expect(args(g, on)).To(ContainElement("--metrics-bind-address=:9443"))
	service := find(on, "Service", "stepwise-controller-metrics")
	g.Expect(service).NotTo(BeNil())
	g.Expect(field(g, service, "spec", "ports")).To(ConsistOf(map[string]any{"name": "https", "port": int64(9443), "targetPort": "metrics"}))
	monitor := find(on, "ServiceMonitor", "stepwise-controller-metrics")
	g.Expect(monitor).NotTo(BeNil())
	g.Expect(monitor.GetAPIVersion()).To(Equal("monitoring.coreos.com/v1"))
	g.Expect(monitor.GetLabels()).To(HaveKeyWithValue("release", "prometheus"))
	// It selects the metrics Service, and only that, by its labels.
	for key, value := range field(g, monitor, "spec", "selector", "matchLabels").(map[string]any) {
		g.Expect(service.GetLabels()).To(HaveKeyWithValue(key, value))
	}
	g.Expect(field(g, monitor, "spec", "endpoints")).To(ConsistOf(HaveKeyWithValue("port", "https")))

	_, err := runHelm("template", "stepwise", chartDir, "-f", valuesFile(t, "prometheus: {enable: true}"))
	g.Expect(err).To(MatchError(ContainSubstring("prometheus.enable needs metrics.enable")))
}

func TestManagerValues(t *testing.T) {
	g := NewWithT(t)
	chart := render(t, "rollouts", "ops", `
manager:
  image: {repository: registry.example.com/stepwise-controller, tag: v0.2.0, pullPolicy: Always}
  imagePullSecrets: [{name: registry}]
  replicas: 3
  logLevel: 4
  extraArgs: [--kube-api-qps=50, --concurrent-rollout-syncs=10]
  resources: {requests: {cpu: 200m, memory: 128Mi}}
  nodeSelector: {kubernetes.io/os: linux}
  tolerations: [{key: dedicated, operator: Equal, value: controllers, effect: NoSchedule}]
  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [system]}]}]}}}
`)
	deployment := find(chart, "Deployment", "rollouts-stepwise-controller")
	g.Expect(deployment).NotTo(BeNil())
	g.Expect(deployment.GetNamespace()).To(Equal("ops"))
	g.Expect(field(g, deployment, "spec", "replicas")).To(Equal(int64(3)))
	pod := field(g, deployment, "spec", "template", "spec").(map[string]any)
	g.Expect(pod).To(HaveKeyWithValue("imagePullSecrets", ConsistOf(map[string]any{"name": "registry"})))
	g.Expect(pod).To(HaveKeyWithValue("nodeSelector", map[string]any{"kubernetes.io/os": "linux"}))
	g.Expect(pod).To(HaveKeyWithValue("tolerations", ConsistOf(HaveKeyWithValue("key", "dedicated"))))
	g.Expect(pod).To(HaveKeyWithValue("affinity", HaveKey("nodeAffinity")))
	container := pod["containers"].([]any)[0].(map[string]any)
	g.Expect(container).To(HaveKeyWithValue("image", "registry.example.com/stepwise-controller:v0.2.0"))
	g.Expect(container).To(HaveKeyWithValue("imagePullPolicy", "Always"))
	// Helm merges maps with the defaults: the limits stay.
	g.Expect(container).To(HaveKeyWithValue("resources", map[string]any{
		"requests": map[string]any{"cpu": "200m", "memory": "128Mi"},
		"limits":   map[string]any{"cpu": "1", "memory": "512Mi"},
	}))
	g.Expect(container["args"]).To(Equal([]any{"--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=0",
		"--zap-log-level=4", "--kube-api-qps=50", "--concurrent-rollout-syncs=10"}))
	g.Expect(find(chart, "Role", "rollouts-stepwise-leader-election")).NotTo(BeNil())

	// Without leader election: one replica, no --leader-elect, no Lease permissions.
	single := render(t, "stepwise", "stepwise-system", "manager: {leaderElection: false}")
	g.Expect(args(g, single)).NotTo(ContainElement("--leader-elect"))
	g.Expect(find(single, "Role", "stepwise-leader-election")).To(BeNil())
	_, err := runHelm("template", "stepwise", chartDir, "-f", valuesFile(t, "manager: {leaderElection: false, replicas: 2}"))
	g.Expect(err).To(MatchError(ContainSubstring("manager.replicas above 1 needs manager.leaderElection")))
}

// The API server accepts every object the chart renders (the ServiceMonitor aside: the local
// cluster has no Prometheus Operator).
func TestRenderedChartPassesServerSideDryRun(t *testing.T) {
	release, watched := newEnv(t), newEnv(t)
	for _, values := range []string{
		"",
		"manager: {watchNamespace: " + watched.NS + ", replicas: 2, extraArgs: [--kube-api-qps=50], nodeSelector: {pool: system}}\nmetrics: {enable: true}",
	} {
		rendered := helm(t, "template", "dry-run", chartDir, "--namespace", release.NS, "-f", valuesFile(t, values))
		out, err := suite.Kubectl(rendered, "apply", "--dry-run=server", "-f", "-")
		release.G.Expect(err).NotTo(HaveOccurred())
		release.G.Expect(out).To(ContainSubstring("deployment.apps/dry-run-stepwise-controller created (server dry run)"))
	}
}

// args are the controller's command-line arguments in a render.
func args(g Gomega, objs []*unstructured.Unstructured) []any {
	for _, obj := range objs {
		if obj.GetKind() == "Deployment" {
			return field(g, obj, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["args"].([]any)
		}
	}
	g.Expect(kinds(objs)).To(ContainElement(HavePrefix("Deployment ")))
	return nil
}
