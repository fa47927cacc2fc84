package observe

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func replicaSet(name, resourceVersion string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: resourceVersion},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas)},
	}
}

// A relist after a broken watch finds the new ReplicaSet scaled up and the old one scaled
// down. Seen one object at a time, in name order, the state in between holds the new size
// with the old one: 20 desired replicas, a state that never existed.
func TestARelistIsOneState(t *testing.T) {
	o := &Observer{rss: map[string]*appsv1.ReplicaSet{}, bounds: Bounds{MaxReplicas: 13}}
	s := newBatchStore(o.record)
	if err := s.Replace([]any{replicaSet("a-new", "1", 3), replicaSet("b-old", "2", 10), replicaSet("c-gone", "3", 0)}, "3"); err != nil {
		t.Fatal(err)
	}
	if err := s.Replace([]any{replicaSet("a-new", "7", 10), replicaSet("b-old", "8", 3), replicaSet("d-added", "9", 0)}, "9"); err != nil {
		t.Fatal(err)
	}
	if v := o.Violations(); len(v) > 0 {
		t.Errorf("violations in a relist: %v", v)
	}
	states := o.States()
	if len(states) != 2 {
		t.Fatalf("%d states, want one per list: %v", len(states), states)
	}
	if got, want := states[1].String(), "a-new() desired 10 pods 0 ready 0 terminating 0; b-old() desired 3 pods 0 ready 0 terminating 0; d-added() desired 0 pods 0 ready 0 terminating 0"; got != want {
		t.Errorf("state after the relist:\n%s\nwant\n%s", got, want)
	}
}

// A list records only what it changes: an object at the same resourceVersion is not a
// change, and one the list no longer holds is deleted with its last known version.
func TestAListRecordsItsDifferences(t *testing.T) {
	var batches [][]Change
	s := newBatchStore(func(c []Change) { batches = append(batches, c) })
	same, changed, gone := replicaSet("same", "1", 1), replicaSet("changed", "2", 1), replicaSet("gone", "3", 1)
	if err := s.Replace([]any{same, changed, gone}, "3"); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(replicaSet("changed", "4", 2)); err != nil {
		t.Fatal(err)
	}
	newer := replicaSet("changed", "5", 3)
	if err := s.Replace([]any{replicaSet("same", "1", 1), newer}, "5"); err != nil {
		t.Fatal(err)
	}
	if len(batches) != 3 || len(batches[0]) != 3 || len(batches[1]) != 1 {
		t.Fatalf("batches %v: want the first list, the update, the relist", batches)
	}
	relist := batches[2]
	if len(relist) != 2 {
		t.Fatalf("relist recorded %d changes, want 2: %v", len(relist), relist)
	}
	if c := relist[0]; c.New != newer || c.Old.(*appsv1.ReplicaSet).ResourceVersion != "4" || c.Deleted {
		t.Errorf("first change %+v: want the update from version 4 to 5", c)
	}
	if c := relist[1]; c.New != gone || !c.Deleted {
		t.Errorf("second change %+v: want the deletion of gone", c)
	}
}

// A ReplicaSet scaled down whose pod is not yet terminating counts that pod; a Deployment's
// promise (UpToDesired) counts it only up to the ReplicaSet's size; TerminationComplete's
// (Terminating) counts it until it is gone.
func TestPodsCountUntilTheyTerminate(t *testing.T) {
	st := State{ReplicaSets: []ReplicaSetState{
		{Name: "old", Desired: 2, Pods: 3, Ready: 3},
		{Name: "new", Desired: 2, Pods: 2, Ready: 0},
	}}
	if v := (Bounds{MaxReplicas: 4}).Check(st); len(v) != 1 || !strings.HasPrefix(v[0], "5 pods > 4") {
		t.Errorf("strict: %q, want one violation of 5 pods", v)
	}
	if v := (Bounds{MaxReplicas: 4, UpToDesired: true}).Check(st); len(v) != 0 {
		t.Errorf("up to desired: %q, want none", v)
	}
	st.ReplicaSets[0].Terminating = 1
	if v := (Bounds{MaxReplicas: 4}).Check(st); len(v) != 0 {
		t.Errorf("the third old pod terminating: %q, want none", v)
	}
	if v := (Bounds{MaxReplicas: 4, Terminating: true}).Check(st); len(v) != 1 || !strings.HasPrefix(v[0], "5 pods > 4") {
		t.Errorf("counting terminating pods: %q, want one violation of 5 pods", v)
	}
}

func TestChurnCountsPodsCreatedAndDeleted(t *testing.T) {
	o := &Observer{rss: map[string]*appsv1.ReplicaSet{}, pods: map[string]*corev1.Pod{}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", ResourceVersion: "1"}}
	terminating := pod.DeepCopy()
	terminating.DeletionTimestamp = &metav1.Time{}
	o.record([]Change{{New: pod}})
	o.record([]Change{{Old: pod, New: pod.DeepCopy()}})                     // an update: neither
	o.record([]Change{{Old: pod, New: terminating}})                        // deleted from here on
	o.record([]Change{{Old: terminating, New: terminating, Deleted: true}}) // already counted
	o.record([]Change{{New: pod}, {Old: pod, New: pod, Deleted: true}})     // created, deleted at once
	if got, want := o.Churn(), (PodChurn{Created: 2, Deleted: 2}); got != want {
		t.Errorf("churn %+v, want %+v", got, want)
	}
}
