package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/migration"
	"github.com/stepwise-dev/stepwise/test/observe"
)

// webDeployment is a Deployment manifest of app web at an image tag, with a change cause;
// podLabels are added to its pod template.
func webDeployment(replicas int, tag, cause string, podLabels ...string) string {
	extra := ""
	for _, l := range podLabels {
		extra += "\n        " + l
	}
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    kubernetes.io/change-cause: ` + cause + `
spec:
  replicas: ` + strconv.Itoa(replicas) + `
  strategy:
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 25%
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web` + extra + `
    spec:
      containers:
      - name: web
        image: example.com/web:` + tag + `
`
}

// asRollout is a Deployment manifest with apiVersion and kind changed.
func asRollout(manifest string) string {
	return strings.Replace(manifest, "apiVersion: apps/v1\nkind: Deployment", "apiVersion: stepwise.dev/v1alpha1\nkind: Rollout", 1)
}

// releaseDeployment applies a Deployment manifest and waits until it has rolled out.
func (e *env) releaseDeployment(manifest string) {
	e.T.Helper()
	e.apply(manifest)
	e.mustKubectl("", "rollout", "status", "deployment/web", "-n", e.NS, "--timeout=60s")
}

// podIdentity is what a restart-free handover keeps: each pod's UID, labels and the
// ReplicaSet that controls it, by name.
func (e *env) podIdentity() map[string]string {
	e.T.Helper()
	pods := &corev1.PodList{}
	e.G.Expect(e.Client.List(e.Ctx, pods, client.InNamespace(e.NS))).To(Succeed())
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = string(p.UID) + " " + metav1.GetControllerOf(&p).Name + " " + strings.Join(sortedLabels(p.Labels), ",")
	}
	return out
}

func sortedLabels(labels map[string]string) []string {
	var out []string
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// rollout reads a Rollout of the test's namespace, reporting to g (for Eventually).
func (e *env) rollout(g Gomega, name string) *stepwisev1alpha1.Rollout {
	ro := &stepwisev1alpha1.Rollout{}
	g.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: name}, ro)).To(Succeed())
	return ro
}

// expectHandedOver checks that nothing happened to the pods since before: the same pods, none
// created or deleted.
func (e *env) expectHandedOver(before map[string]string, churn observe.PodChurn) {
	e.T.Helper()
	e.G.Expect(e.podIdentity()).To(Equal(before))
	e.G.Expect(e.Obs.Churn()).To(Equal(churn), "no pod created or deleted")
}

func (e *env) ownersOfReplicaSets() map[string]string {
	e.T.Helper()
	out := map[string]string{}
	for _, rs := range e.ReplicaSets() {
		ref := metav1.GetControllerOf(&rs)
		if ref == nil {
			out[rs.Name] = "none"
		} else {
			out[rs.Name] = ref.Kind + "/" + ref.Name
		}
	}
	return out
}

func TestMigrateADeploymentToARolloutAndBackWithNoPodRestarted(t *testing.T) {
	e := newEnv(t)
	e.releaseDeployment(webDeployment(10, "v1", "first"))
	e.releaseDeployment(webDeployment(10, "v2", "second"))
	e.releaseDeployment(webDeployment(10, "v3", "third"))
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: e.NS},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](10), MaxReplicas: 10,
		},
	}
	e.Create(hpa)
	bounds := observe.Bounds{MaxReplicas: 13, MinAvailable: 8} // 10 replicas, 25%/25%
	e.Obs.SetBounds(bounds)

	// A dry run changes nothing and says what would be adopted.
	plan := e.mustStepwise("migrate", "deployment/web", "--dry-run=server")
	e.G.Expect(plan).To(MatchRegexp(`(?m)^\s+3\s+web-\w+\s+10\s+current$`))
	e.G.Expect(plan).To(MatchRegexp(`(?m)^\s+1\s+web-\w+\s+0\s*$`))
	e.G.Expect(plan).To(ContainSubstring("horizontalpodautoscaler.autoscaling/web targets deployment.apps/web"))
	manifest := e.mustStepwise("migrate", "deployment/web", "--dry-run", "-o", "yaml")
	e.G.Expect(manifest).To(And(ContainSubstring("kind: Rollout"), ContainSubstring("kubernetes.io/change-cause: third"), ContainSubstring("image: example.com/web:v3")))
	e.G.Expect(manifest).NotTo(Or(ContainSubstring("paused: true"), ContainSubstring(stepwisev1alpha1.MigratedFromAnnotation)))
	e.getDeployment("web")

	before, churn := e.podIdentity(), e.Obs.Churn()
	out := e.mustStepwise("migrate", "deployment/web", "--update-hpa")
	e.G.Expect(out).To(ContainSubstring("deployment.apps/web deleted with --cascade=orphan"))
	e.G.Expect(out).To(MatchRegexp(`rollout.stepwise.dev/web adopted ReplicaSets web-\w+ \(revision 3, current, 10 pods\)`))
	e.G.Expect(out).To(ContainSubstring("horizontalpodautoscaler.autoscaling/web retargeted to rollout/web"))
	e.G.Expect(out).To(HaveSuffix("deployment.apps/web migrated to rollout.stepwise.dev/web\n"))
	e.expectHandedOver(before, churn)
	_, err := suite.Kube.AppsV1().Deployments(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
	e.G.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	ro := e.WaitComplete("web")
	e.G.Expect(ro.Spec.Paused).To(BeFalse())
	e.G.Expect(ro.Annotations).NotTo(HaveKey(stepwisev1alpha1.MigratedFromAnnotation))
	e.G.Expect(ro.Status.CurrentRevision).To(Equal(int64(3)))
	e.G.Expect(e.ownersOfReplicaSets()).To(HaveEach("Rollout/web"))
	e.G.Expect(e.ReplicaSets()).To(HaveLen(3), "no new ReplicaSet")
	e.expectHandedOver(before, churn)
	history := e.mustStepwise("history", "web")
	for _, line := range []string{`^1\s+first\s`, `^2\s+second\s`, `^3\s+third\s`} {
		e.G.Expect(history).To(MatchRegexp("(?m)" + line))
	}
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKeyFromObject(hpa), hpa)).To(Succeed())
	e.G.Expect(hpa.Spec.ScaleTargetRef).To(Equal(autoscalingv2.CrossVersionObjectReference{APIVersion: "stepwise.dev/v1alpha1", Kind: "Rollout", Name: "web"}))

	// Stepwise rolls out v4 within the same bounds, then brings revision 2 back.
	e.mustStepwise("set", "image", "web", "web=example.com/web:v4")
	e.mustStepwise("status", "web", "--timeout=60s")
	e.mustStepwise("undo", "web", "--to-revision=2")
	e.mustStepwise("status", "web", "--timeout=60s")
	e.G.Expect(e.WaitComplete("web").Status.CurrentRevision).To(Equal(int64(5)))

	// And back to a Deployment: the built-in controller adopts the ReplicaSets as they are.
	before, churn = e.podIdentity(), e.Obs.Churn()
	out = e.mustStepwise("migrate", "rollout/web", "--to-deployment", "--update-hpa")
	e.G.Expect(out).To(MatchRegexp(`deployment.apps/web adopted ReplicaSets web-\w+ \(revision 5, current, 10 pods\)`))
	e.G.Expect(out).To(HaveSuffix("rollout.stepwise.dev/web migrated to deployment.apps/web\n"))
	e.expectHandedOver(before, churn)
	e.mustKubectl("", "rollout", "status", "deployment/web", "-n", e.NS, "--timeout=60s")
	d := e.getDeployment("web")
	e.G.Expect(d.Spec.Paused).To(BeFalse())
	e.G.Expect(d.Annotations).To(HaveKeyWithValue("deployment.kubernetes.io/revision", "5"))
	e.G.Expect(e.ownersOfReplicaSets()).To(HaveEach("Deployment/web"))
	e.G.Expect(e.ReplicaSets()).To(HaveLen(4))
	for _, rs := range e.ReplicaSets() {
		e.G.Expect(rs.Annotations).NotTo(HaveKey(stepwisev1alpha1.RevisionAnnotation), rs.Name)
		e.G.Expect(rs.Annotations).NotTo(HaveKey(stepwisev1alpha1.MigratedFromAnnotation), rs.Name)
	}
	history = e.mustKubectl("", "rollout", "history", "deployment/web", "-n", e.NS)
	for _, line := range []string{`^1\s+first$`, `^3\s+third$`, `^4\s+kubectl stepwise set image web web=example.com/web:v4$`, `^5\s+second$`} {
		e.G.Expect(history).To(MatchRegexp("(?m)" + line))
	}
	e.G.Consistently(e.Obs.Churn).Should(Equal(churn), "the Deployment controller leaves the pods alone")
	e.expectHandedOver(before, churn)
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKeyFromObject(hpa), hpa)).To(Succeed())
	e.G.Expect(hpa.Spec.ScaleTargetRef.Kind).To(Equal("Deployment"))
	e.ExpectNoViolations()
}

// The declarative path, as Argo CD and Flux take it: the Rollout is applied while the
// Deployment still runs, and waits; the Deployment is deleted with orphan propagation, and
// the Rollout adopts its ReplicaSets.
func TestMigrateDeclarativelyByApplyingTheRolloutAndOrphaningTheDeployment(t *testing.T) {
	e := newEnv(t)
	e.releaseDeployment(webDeployment(4, "v1", "first"))
	e.releaseDeployment(webDeployment(4, "v2", "second"))
	e.Obs.SetBounds(observe.Bounds{MaxReplicas: 5, MinAvailable: 3})
	before, churn := e.podIdentity(), e.Obs.Churn()

	e.apply(asRollout(webDeployment(4, "v2", "second")))
	e.G.Eventually(func(g Gomega) {
		progressing := meta.FindStatusCondition(e.rollout(g, "web").Status.Conditions, stepwisev1alpha1.ConditionProgressing)
		g.Expect(progressing).NotTo(BeNil())
		g.Expect(progressing.Reason).To(Equal(stepwisev1alpha1.ReasonDeploymentOwnsReplicaSets))
		g.Expect(progressing.Message).To(ContainSubstring("kubectl delete deployment web --cascade=orphan"))
	}).Should(Succeed())
	e.G.Consistently(e.ownersOfReplicaSets).Should(HaveEach("Deployment/web"), "the Rollout waits")
	e.expectHandedOver(before, churn)

	e.mustKubectl("", "delete", "deployment/web", "-n", e.NS, "--cascade=orphan")
	e.WaitComplete("web")
	e.G.Expect(e.ownersOfReplicaSets()).To(And(HaveLen(2), HaveEach("Rollout/web")))
	e.expectHandedOver(before, churn)
	history := e.mustStepwise("history", "web")
	e.G.Expect(history).To(And(MatchRegexp(`(?m)^1\s+first\s`), MatchRegexp(`(?m)^2\s+second\s`)))
	e.G.Expect(e.eventReasons()).To(ContainElement(stepwisev1alpha1.ReasonDeploymentOwnsReplicaSets))
	e.ExpectNoViolations()
}

// --force takes a Deployment mid-rollout; Stepwise finishes it within the same bounds. A
// paused Deployment stays paused as a Rollout.
func TestMigrateMidRolloutWithForceAndPaused(t *testing.T) {
	e := newEnv(t)
	const gate = "example.com/registered"
	e.releaseDeployment(webDeployment(4, "v1", "first"))
	gated := strings.Replace(webDeployment(4, "v2", "second"), "    spec:\n      containers:", "    spec:\n      readinessGates:\n      - conditionType: "+gate+"\n      containers:", 1)
	e.apply(gated)
	e.Obs.SetBounds(observe.Bounds{MaxReplicas: 5, MinAvailable: 3})
	// Stuck: the surge pod and the one maxUnavailable allows wait for their gate.
	e.G.Eventually(func(g Gomega) {
		d := e.getDeployment("web")
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect([]int32{d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas}).To(Equal([]int32{5, 2, 3}))
	}).Should(Succeed())

	_, err := e.stepwise("migrate", "deployment/web")
	e.G.Expect(err).To(MatchError(ContainSubstring("deployment.apps/web is mid-rollout (")))
	e.G.Expect(err).To(MatchError(ContainSubstring("pass --force to let Stepwise finish the rollout")))
	e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: "web"}, &stepwisev1alpha1.Rollout{})).To(Satisfy(apierrors.IsNotFound))

	before, churn := e.podIdentity(), e.Obs.Churn()
	e.mustStepwise("migrate", "deployment/web", "--force")
	e.G.Expect(e.podIdentity()).To(Equal(before))
	e.G.Expect(e.Obs.Churn()).To(Equal(churn))
	// Register every new pod as it comes: Stepwise finishes the rollout.
	e.G.Eventually(func(g Gomega) {
		pods := &corev1.PodList{}
		g.Expect(e.Client.List(e.Ctx, pods, client.InNamespace(e.NS))).To(Succeed())
		for _, p := range pods.Items {
			if len(p.Spec.ReadinessGates) > 0 && !observe.PodCondition(&p, gate) && p.DeletionTimestamp == nil {
				patch := `{"status":{"conditions":[{"type":"` + gate + `","status":"True"}]}}`
				g.Expect(e.Client.Status().Patch(e.Ctx, &p, client.RawPatch("application/strategic-merge-patch+json", []byte(patch)))).To(Succeed())
			}
		}
		ro := e.rollout(g, "web")
		g.Expect(ro.Status.UpdatedReplicas).To(Equal(int32(4)))
		g.Expect(ro.Status.AvailableReplicas).To(Equal(int32(4)))
		g.Expect(ro.Status.Replicas).To(Equal(int32(4)))
	}).Should(Succeed())
	e.WaitComplete("web")
	e.G.Expect(e.ReplicaSets()).To(HaveLen(2), "Stepwise finished with the Deployment's new ReplicaSet")

	// Paused stays paused, both ways.
	e.mustStepwise("pause", "web")
	before, churn = e.podIdentity(), e.Obs.Churn()
	e.G.Expect(e.mustStepwise("migrate", "rollout/web", "--to-deployment")).To(HaveSuffix("(paused, as the Rollout was)\n"))
	e.G.Expect(e.getDeployment("web").Spec.Paused).To(BeTrue())
	e.expectHandedOver(before, churn)
	e.G.Expect(e.mustStepwise("migrate", "deployment/web")).To(HaveSuffix("(paused, as the Deployment was)\n"))
	e.G.Expect(e.Get("web").Spec.Paused).To(BeTrue())
	e.expectHandedOver(before, churn)
	e.ExpectNoViolations()
}

// A migration stopped half-way (a lost connection, a timeout) leaves its target marked in the
// cluster; running the command again finishes it. The state after the first write of each
// direction is made here as the command makes it.
func TestAMigrationStoppedHalfWayFinishesOnARerun(t *testing.T) {
	e := newEnv(t)
	e.releaseDeployment(webDeployment(4, "v1", "first"))
	e.releaseDeployment(webDeployment(4, "v2", "second"))
	e.Create(&autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: e.NS},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](4), MaxReplicas: 4,
		},
	})
	e.Obs.SetBounds(observe.Bounds{MaxReplicas: 5, MinAvailable: 3})
	before, churn := e.podIdentity(), e.Obs.Churn()

	// Into Stepwise: stopped after creating the Rollout; it waits, held by the Deployment.
	ro, err := migration.Rollout(e.getDeployment("web"))
	e.G.Expect(err).NotTo(HaveOccurred())
	ro.Namespace = e.NS
	e.Create(ro)
	e.G.Eventually(func(g Gomega) {
		progressing := meta.FindStatusCondition(e.rollout(g, "web").Status.Conditions, stepwisev1alpha1.ConditionProgressing)
		g.Expect(progressing).NotTo(BeNil())
		g.Expect(progressing.Reason).To(Equal(stepwisev1alpha1.ReasonDeploymentOwnsReplicaSets))
	}).Should(Succeed())
	_, err = e.stepwise("migrate", "deployment/web", "--dry-run")
	e.G.Expect(err).To(MatchError(ContainSubstring("a migration of deployment.apps/web is under way: run it again without --dry-run")))
	out := e.mustStepwise("migrate", "deployment/web")
	e.G.Expect(out).To(HavePrefix("resuming the migration of deployment.apps/web\n"))
	e.G.Expect(out).To(ContainSubstring("kubectl patch hpa web -n " + e.NS + ` --type=merge -p '{"spec":{"scaleTargetRef":{"apiVersion":"stepwise.dev/v1alpha1","kind":"Rollout","name":"web"}}}'`))
	e.WaitComplete("web")
	e.expectHandedOver(before, churn)
	e.G.Expect(e.mustStepwise("history", "web")).To(And(MatchRegexp(`(?m)^1\s+first\s`), MatchRegexp(`(?m)^2\s+second\s`)))

	// Out of it: stopped after creating the paused Deployment.
	ro = e.Get("web")
	var owned []*appsv1.ReplicaSet
	for _, rs := range e.ReplicaSets() {
		owned = append(owned, &rs)
	}
	d, err := migration.Deployment(ro, migration.CurrentReplicaSet(&ro.Spec.Template, owned))
	e.G.Expect(err).NotTo(HaveOccurred())
	e.Create(d)
	e.G.Consistently(e.podIdentity).Should(Equal(before), "a paused Deployment with no ReplicaSet does nothing")
	out = e.mustStepwise("migrate", "rollout/web", "--to-deployment")
	e.G.Expect(out).To(HavePrefix("resuming the migration of rollout.stepwise.dev/web\n"))
	e.mustKubectl("", "rollout", "status", "deployment/web", "-n", e.NS, "--timeout=60s")
	e.expectHandedOver(before, churn)
	e.G.Expect(e.mustKubectl("", "rollout", "history", "deployment/web", "-n", e.NS)).To(And(MatchRegexp(`(?m)^1\s+first$`), MatchRegexp(`(?m)^2\s+second$`)))
	e.ExpectNoViolations()
}

func TestMigrateRefusesBadInputAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.releaseDeployment(webDeployment(2, "v1", "first"))
	e.apply(strings.NewReplacer("name: web", "name: other", "app: web", "app: web-other").Replace(asRollout(webDeployment(1, "v1", "other"))))
	e.WaitComplete("other")
	unchanged := func(args string) {
		t.Helper()
		e.G.Expect(e.ownersOfReplicaSets()).To(HaveKeyWithValue(MatchRegexp(`^web-`), "Deployment/web"), args)
		e.G.Expect(e.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: "web"}, &stepwisev1alpha1.Rollout{})).To(Satisfy(apierrors.IsNotFound), args)
		e.G.Expect(e.getDeployment("web").Spec.Paused).To(BeFalse(), args)
	}
	for _, tc := range []struct {
		args    []string
		message string
	}{
		{[]string{"migrate", "deployment/nothere"}, `deployments.apps "nothere" not found`},
		{[]string{"migrate", "rollout/nothere", "--to-deployment"}, `rollouts.stepwise.dev "nothere" not found`},
		{[]string{"migrate", "web"}, `"web": expected deployment/NAME or rollout/NAME`},
		{[]string{"migrate", "deployment/web", "--to-deployment"}, "--to-deployment moves a Rollout to a Deployment: use rollout/web"},
		{[]string{"migrate", "rollout/other"}, "rollout/other is already a Rollout: add --to-deployment"},
		{[]string{"migrate", "deployment/web", "-o", "yaml"}, "--output (-o) goes with --dry-run"},
		{[]string{"migrate", "deployment/web", "--dry-run=maybe"}, `invalid --dry-run value "maybe"`},
	} {
		_, err := e.stepwise(tc.args...)
		e.G.Expect(err).To(MatchError(ContainSubstring(tc.message)), strings.Join(tc.args, " "))
		unchanged(strings.Join(tc.args, " "))
	}

	// A Rollout whose selector overlaps the Deployment's.
	overlapping := strings.NewReplacer("name: web", "name: wide", "      app: web\n  template", "      tier: front\n  template", "app: web", "app: web\n        tier: front").
		Replace(asRollout(webDeployment(1, "v1", "wide")))
	e.apply(overlapping)
	_, err := e.stepwise("migrate", "deployment/web")
	e.G.Expect(err).To(MatchError(ContainSubstring("deployment.apps/web's selector overlaps rollout.stepwise.dev/wide's: both would claim the same pods")))
	unchanged("overlap")
	e.mustKubectl("", "delete", "rollout/wide", "-n", e.NS, "--wait")

	// A Rollout of the Deployment's name already exists (a migration did not create it).
	taken := strings.NewReplacer("app: web", "app: web-taken").Replace(asRollout(webDeployment(1, "v1", "taken")))
	e.apply(taken)
	_, err = e.stepwise("migrate", "deployment/web")
	e.G.Expect(err).To(MatchError(ContainSubstring("rollout.stepwise.dev/web already exists: refusing to replace deployment.apps/web by it")))
	e.G.Expect(e.getDeployment("web").DeletionTimestamp).To(BeNil())
	e.mustKubectl("", "delete", "rollout/web", "-n", e.NS, "--wait")
	unchanged("taken")

	// Without the permission to delete Deployments: the API's error, before any write.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "migrator", Namespace: e.NS}}
	e.Create(sa)
	e.Create(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "migrator", Namespace: e.NS}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{"stepwise.dev"}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list", "watch", "create", "patch"}},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: []string{"get", "list"}},
	}})
	e.Create(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "migrator", Namespace: e.NS},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "migrator"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "migrator", Namespace: e.NS}}})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	e.G.Expect(suite.ServiceAccountKubeconfig(e.Ctx, e.NS, "migrator", kubeconfig)).To(Succeed())
	_, err = suite.Kubectl("", "stepwise", "migrate", "deployment/web", "-n", e.NS, "--kubeconfig", kubeconfig)
	e.G.Expect(err).To(MatchError(ContainSubstring(`deployments.apps "web" is forbidden: User "system:serviceaccount:` + e.NS + `:migrator" cannot delete resource "deployments"`)))
	unchanged("rbac")
	e.G.Expect(os.Remove(kubeconfig)).To(Succeed())

	// Going back: a Deployment of the name that the migration did not create; a Rollout
	// mid-rollout; a Deployment overlapping the Rollout.
	e.mustKubectl("", "patch", "rollout/other", "-n", e.NS, "--type=merge", "-p", `{"spec":{"template":{"metadata":{"labels":{"stepwise.dev/never-ready":"true"}}}}}`)
	_, err = e.stepwise("migrate", "rollout/other", "--to-deployment")
	e.G.Expect(err).To(MatchError(ContainSubstring("rollout.stepwise.dev/other is mid-rollout (")))
	e.mustStepwise("undo", "other")
	e.WaitComplete("other")
	e.apply(strings.NewReplacer("name: web", "name: other", "app: web", "app: web-other-too").Replace(webDeployment(1, "v1", "taken")))
	_, err = e.stepwise("migrate", "rollout/other", "--to-deployment")
	e.G.Expect(err).To(MatchError(ContainSubstring("deployment.apps/other already exists: refusing to replace rollout.stepwise.dev/other by it")))
	e.mustKubectl("", "delete", "deployment/other", "-n", e.NS, "--wait")
	e.apply(strings.NewReplacer("name: web", "name: other-wide", "      app: web\n  template", "      tier: front\n  template", "app: web", "app: web-other\n        tier: front").
		Replace(webDeployment(1, "v1", "wide")))
	_, err = e.stepwise("migrate", "rollout/other", "--to-deployment")
	e.G.Expect(err).To(MatchError(ContainSubstring("rollout.stepwise.dev/other's selector overlaps deployment.apps/other-wide's")))
	e.G.Expect(e.Get("other").Spec.Paused).To(BeFalse())
	unchanged("going back")

	// A Rollout using what a Deployment cannot express stays a Rollout.
	e.mustKubectl("", "patch", "rollout/other", "-n", e.NS, "--type=merge", "-p", `{"spec":{"progressGates":["example.com/ok"]}}`)
	_, err = e.stepwise("migrate", "rollout/other", "--to-deployment")
	e.G.Expect(err).To(MatchError(ContainSubstring("rollout other uses what a Deployment cannot express: spec.progressGates; remove it from the Rollout first")))
	e.Get("other")
	_, err = suite.Kube.AppsV1().Deployments(e.NS).Get(e.Ctx, "other", metav1.GetOptions{})
	e.G.Expect(apierrors.IsNotFound(err)).To(BeTrue())
}
