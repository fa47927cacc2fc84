package rollout

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/planner"
)

// The scale patch sets the size and its annotations whether or not the ReplicaSet has
// annotations yet, keeps the others, and holds only for the generation it was planned from.
// (Against the API server, with the ReplicaSet controller writing: test/faults.)
func TestScalePatchHoldsOnlyForThePlannedGeneration(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	step := planner.ScaleStep{ReplicaSet: "web-1", From: 2, To: 3, DesiredReplicas: 4, MaxReplicas: 5}
	for name, annotations := range map[string]map[string]string{
		"no annotations yet":    nil,
		"annotations of others": {"other": "kept", stepwisev1alpha1.DesiredReplicasAnnotation: "2"},
	} {
		t.Run(name, func(t *testing.T) {
			stored := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-1", Generation: 7, Annotations: annotations},
				Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2)}}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(stored).Build()
			r := &Reconciler{Client: c, Recorder: events.NewFakeRecorder(10)}
			ro := &stepwisev1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
			base := &appsv1.ReplicaSet{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(stored), base); err != nil {
				t.Fatal(err)
			}

			stale := base.DeepCopy()
			stale.Generation--
			if _, err := r.scale(context.Background(), ro, stale, step); err == nil {
				t.Error("a scale planned from an older generation went through")
			}
			scaled, err := r.scale(context.Background(), ro, base, step)
			if err != nil {
				t.Fatal(err)
			}
			got := scaled.Annotations
			if *scaled.Spec.Replicas != 3 || got[stepwisev1alpha1.DesiredReplicasAnnotation] != "4" || got[stepwisev1alpha1.MaxReplicasAnnotation] != "5" {
				t.Errorf("scaled to %d with annotations %v, want 3 with desired 4 and max 5", *scaled.Spec.Replicas, got)
			}
			if annotations != nil && got["other"] != "kept" {
				t.Errorf("another annotation was lost: %v", got)
			}
		})
	}
}
