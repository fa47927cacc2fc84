package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// podOf is a running pod of rs, ready or not.
func podOf(rs *appsv1.ReplicaSet, name string, ready bool) *corev1.Pod {
	readiness := corev1.ConditionFalse
	if ready {
		readiness = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: rs.Namespace,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: readiness}}},
	}
}

// treeObjects is threeRevisions, complete, with revision 3's pods (c not ready yet) and a pod of
// another Rollout.
func treeObjects() []client.Object {
	objs := threeRevisions(withCondition(stepwisev1alpha1.ConditionComplete, metav1.ConditionTrue, stepwisev1alpha1.ReasonRolloutComplete, ""))
	current, foreign := objs[3].(*appsv1.ReplicaSet), objs[4].(*appsv1.ReplicaSet)
	return append(objs, podOf(current, "web-nginx3-a", true), podOf(current, "web-nginx3-b", true), podOf(current, "web-nginx3-c", false),
		podOf(foreign, "api-nginx7-a", true))
}

const tree = `Rollout web  ready 3/3  revision 3  Complete=True(RolloutComplete)
├── ReplicaSet web-nginx3  revision 3  nginx:3,envoy:1  desired 3  ready 3/3
│   ├── Pod web-nginx3-a  Running  Ready
│   ├── Pod web-nginx3-b  Running  Ready
│   └── Pod web-nginx3-c  Running  NotReady
├── ReplicaSet web-nginx2  revision 2  nginx:2,envoy:1  desired 0  ready 0/0
└── ReplicaSet web-nginx1  revision 1  nginx:1,envoy:1  desired 0  ready 0/0
`

func TestGet(t *testing.T) {
	blueGreen := func(ro *stepwisev1alpha1.Rollout) {
		ro.Spec.Strategy = stepwisev1alpha1.RolloutStrategy{Type: stepwisev1alpha1.BlueGreenRolloutStrategyType,
			BlueGreen: &stepwisev1alpha1.BlueGreenStrategy{ActiveService: "web", PreviewService: "web-preview"}}
	}
	service := func(namespace, name, hash string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web", stepwisev1alpha1.PodTemplateHashLabel: hash}}}
	}
	runVerbCases(t, []verbCase{
		{name: "the Rollout, its ReplicaSets newest first and their pods", objs: treeObjects(), args: []string{"get", "web"},
			wantOut: tree},
		{name: "--watch ends at --timeout without an error", objs: treeObjects(), args: []string{"get", "web", "--watch", "--timeout=10ms"},
			wantOut: tree},
		{name: "a paused Rollout says so", objs: objects(webRollout(paused)), args: []string{"get", "web"},
			wantOut: "Rollout web  ready 3/3  revision 1  PAUSED\n"},
		{name: "blue-green: the hash each Service selects",
			objs: objects(webRollout(blueGreen), service(testNamespace, "web", "5d9f"), service("other", "web-preview", "7c4b")),
			args: []string{"get", "web"},
			wantOut: `Rollout web  ready 3/3  revision 1
   Services: active web → 5d9f │ preview web-preview → missing
`},
		{name: "a Service that cannot be read", objs: objects(webRollout(blueGreen)), args: []string{"get", "web"},
			funcs: interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if _, ok := obj.(*corev1.Service); ok {
					return errors.New("services is forbidden")
				}
				return c.Get(ctx, key, obj, opts...)
			}},
			wantErr: "services is forbidden"},
		{name: "--watch ends with the error of a watch that cannot start", objs: treeObjects(), args: []string{"get", "web", "--watch"},
			funcs: interceptor.Funcs{Watch: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
				if _, ok := list.(*corev1.PodList); ok {
					return nil, errors.New("pods is forbidden")
				}
				return c.Watch(ctx, list, opts...)
			}},
			wantOut: tree, wantErr: "watching *v1.PodList: pods is forbidden"},
		{name: "a missing Rollout", args: []string{"get", "web"}, wantErr: notFound},
		{name: "no name", args: []string{"get"}, wantErr: "exactly one ROLLOUT name is required, got 0 arguments"},
	})
}

func TestGetWatchRedrawsOnChange(t *testing.T) {
	g := NewWithT(t)
	watching := make(chan struct{}, 3)
	c := newFakeClient(t, interceptor.Funcs{Watch: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
		w, err := c.Watch(ctx, list, opts...)
		watching <- struct{}{}
		return w, err
	}}, treeObjects()...)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out testutil.Log
	ended := make(chan error, 1)
	go func() { ended <- pluginCommand(t, c, &out, "get", "web", "--watch").ExecuteContext(ctx) }()
	for range 3 { // the Rollout's, the ReplicaSets' and the pods' watches
		g.Eventually(watching).Should(Receive())
	}

	pod := &corev1.Pod{}
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: "web-nginx3-c"}, pod)).To(Succeed())
	pod.Status.Conditions[0].Status = corev1.ConditionTrue
	g.Expect(c.Status().Update(ctx, pod)).To(Succeed())

	g.Eventually(out.String).Should(Equal(tree + "\n" + strings.Replace(tree, "web-nginx3-c  Running  NotReady", "web-nginx3-c  Running  Ready", 1)))
	cancel()
	g.Eventually(ended).Should(Receive(MatchError(context.Canceled)))
}
