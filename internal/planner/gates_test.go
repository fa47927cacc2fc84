package planner

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/stepwise-dev/stepwise/internal/testutil"
)

func TestWithProgressGatesCountsSignedOffPods(t *testing.T) {
	g := NewWithT(t)
	const gate = "example.com/smoke-tested"
	ro := testutil.Rollout("web").Replicas(4).Surge("1").Unavailable("0").Image("v2").Obj()
	ro.Spec.ProgressGates = []string{gate}
	old, newRS := rs(ro, "v1", 1).Replicas(3).Available(3).Obj(), rs(ro, "v2", 2).Replicas(2).Available(2).Obj()
	newRS.Spec.MinReadySeconds = 5
	now := testutil.Epoch.Add(time.Hour)
	pod := func(owner *appsv1.ReplicaSet, readyFor time.Duration, gateStatus corev1.ConditionStatus, terminating bool) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{UID: types.UID(owner.UID), Controller: ptr.To(true)}}},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-readyFor))}}}}
		if gateStatus != "" {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: gate, Status: gateStatus})
		}
		if terminating {
			p.DeletionTimestamp = &metav1.Time{Time: now}
		}
		return p
	}
	pods := []corev1.Pod{
		pod(old, time.Hour, corev1.ConditionTrue, false),
		pod(old, time.Hour, "", false),                  // no gate condition yet
		pod(old, time.Hour, corev1.ConditionTrue, true), // terminating
		pod(newRS, 10*time.Second, corev1.ConditionTrue, false),
		pod(newRS, 4*time.Second, corev1.ConditionTrue, false), // ready, not for minReadySeconds
		pod(newRS, time.Hour, corev1.ConditionFalse, false),
	}
	s := WithProgressGates(Snapshot{Rollout: ro, New: newRS, Old: []*appsv1.ReplicaSet{old}, Now: now}, pods)
	g.Expect(s.Old[0].Status.AvailableReplicas).To(Equal(int32(1)))
	g.Expect(s.New.Status.AvailableReplicas).To(Equal(int32(1)))
	g.Expect(old.Status.AvailableReplicas).To(Equal(int32(3)), "the inputs are not modified")

	ro.Spec.ProgressGates = nil
	g.Expect(WithProgressGates(Snapshot{Rollout: ro, New: newRS, Old: []*appsv1.ReplicaSet{old}}, pods).New).To(BeIdenticalTo(newRS), "no gates: nothing to do")
}
