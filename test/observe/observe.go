// Package observe watches the ReplicaSets and pods of one namespace and checks bounds on every
// state it observes, not only at the end: the sum of ReplicaSet replicas, the pods that exist
// and are not terminating (or all of them; or, for a Deployment, those pods counted up to their
// ReplicaSet's desired size: its ReplicaSet controller may create a new pod before it marks a
// scaled-away one terminating, see shared/notes/local-cluster.md), available pods, old and new
// pods side by side.
package observe

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Bounds are the limits every observed state must keep. Zero values turn a check off.
type Bounds struct {
	// MaxReplicas bounds the sum of the ReplicaSets' spec.replicas and the pods that exist and
	// are not terminating, as podReplacementPolicy TerminationStarted promises.
	MaxReplicas int32
	// UpToDesired counts each ReplicaSet's pods only up to its desired size, as a Deployment
	// (or podReplacementPolicy ReplicaSetSizes) promises.
	UpToDesired bool
	// Terminating counts terminating pods too, as podReplacementPolicy TerminationComplete
	// promises.
	Terminating bool
	// MinAvailable is the least number of ready, non-terminating pods.
	MinAvailable int32
	// Exclusive forbids pods (terminating ones included) of two ReplicaSets at once (Recreate).
	Exclusive bool
}

// Loosest is the weakest bounds that both b and o allow: for a run whose size changes, every
// state must keep at least these.
func (b Bounds) Loosest(o Bounds) Bounds {
	return Bounds{MaxReplicas: max(b.MaxReplicas, o.MaxReplicas), MinAvailable: min(b.MinAvailable, o.MinAvailable),
		UpToDesired: b.UpToDesired || o.UpToDesired, Terminating: b.Terminating && o.Terminating, Exclusive: b.Exclusive && o.Exclusive}
}

// ReplicaSetState is one ReplicaSet as observed.
type ReplicaSetState struct {
	Name     string
	Image    string
	Revision string
	Desired  int32
	// Pods are the ReplicaSet's pods: all, ready non-terminating, terminating.
	Pods, Ready, Terminating int32
}

// State is one observed moment.
type State struct {
	At          time.Time
	ReplicaSets []ReplicaSetState // by name
}

// Totals returns the sum of desired replicas, the pods counted against b's MaxReplicas (not
// terminating, or all with Terminating; each ReplicaSet's only up to its desired size with
// UpToDesired), and the ready pods.
func (s State) Totals(b Bounds) (desired, counted, ready int32) {
	for _, rs := range s.ReplicaSets {
		desired += rs.Desired
		pods := rs.Pods
		if !b.Terminating {
			pods -= rs.Terminating
		}
		if b.UpToDesired {
			pods = min(pods, rs.Desired)
		}
		counted += pods
		ready += rs.Ready
	}
	return desired, counted, ready
}

func (s State) String() string {
	var parts []string
	for _, rs := range s.ReplicaSets {
		parts = append(parts, fmt.Sprintf("%s(%s) desired %d pods %d ready %d terminating %d", rs.Name, rs.Image, rs.Desired, rs.Pods, rs.Ready, rs.Terminating))
	}
	return strings.Join(parts, "; ")
}

// Observer records states and the bound violations among them.
type Observer struct {
	mu         sync.Mutex
	bounds     Bounds
	rss        map[string]*appsv1.ReplicaSet
	pods       map[string]*corev1.Pod
	states     []State
	violations []string
	churn      PodChurn
	stop       func()
}

// PodChurn counts the pods created and those deleted (from the moment they start
// terminating) since the observer started.
type PodChurn struct{ Created, Deleted int }

// Start watches namespace ns until Stop.
func Start(cs kubernetes.Interface, ns string) (*Observer, error) {
	o := &Observer{rss: map[string]*appsv1.ReplicaSet{}, pods: map[string]*corev1.Pod{}}
	stop, err := Watch(cs, ns, o.record)
	if err != nil {
		return nil, err
	}
	o.stop = stop
	return o, nil
}

// Change is one ReplicaSet or pod added, updated or deleted. Old is its previous version, nil
// for an add; New is the object, its last known version if Deleted.
type Change struct {
	Old, New any
	Deleted  bool
}

// Watch calls record with every change of the ReplicaSets and pods of namespace ns, from the
// initial list on, until stop is called. A list, the initial one or one after the watch broke
// (an API server restart), comes as one call holding every difference it makes: a state in
// the middle of a relist would mix the ReplicaSets' old and new sizes, a state that never
// existed. Calls come from one goroutine per resource.
func Watch(cs kubernetes.Interface, ns string, record func([]Change)) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	stores := []*batchStore{newBatchStore(record), newBatchStore(record)}
	reflectors := []*cache.Reflector{
		cache.NewReflector(cache.NewListWatchFromClient(cs.AppsV1().RESTClient(), "replicasets", ns, fields.Everything()), &appsv1.ReplicaSet{}, stores[0], 0),
		cache.NewReflector(cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "pods", ns, fields.Everything()), &corev1.Pod{}, stores[1], 0),
	}
	for _, r := range reflectors {
		go r.RunWithContext(ctx)
	}
	deadline := time.After(time.Minute)
	for _, s := range stores {
		select {
		case <-s.listed:
		case <-deadline:
			cancel()
			return nil, fmt.Errorf("watch of namespace %s: no list within a minute", ns)
		}
	}
	return cancel, nil
}

// batchStore is a reflector's store that hands each change to record, and each list as one
// batch of the differences it makes.
type batchStore struct {
	record func([]Change)
	objs   map[string]metav1.Object // by name: one namespace
	listed chan struct{}            // closed by the first list
}

func newBatchStore(record func([]Change)) *batchStore {
	return &batchStore{record: record, objs: map[string]metav1.Object{}, listed: make(chan struct{})}
}

func (s *batchStore) Add(obj any) error    { return s.apply(obj, false) }
func (s *batchStore) Update(obj any) error { return s.apply(obj, false) }
func (s *batchStore) Delete(obj any) error { return s.apply(obj, true) }
func (s *batchStore) Resync() error        { return nil }

// Replace records the objects list adds or changes and those it no longer holds, at once.
func (s *batchStore) Replace(list []any, _ string) error {
	gone := s.objs
	s.objs = make(map[string]metav1.Object, len(list))
	var changes []Change
	for _, item := range list {
		obj, err := meta.Accessor(item)
		if err != nil {
			return err
		}
		old, seen := gone[obj.GetName()]
		delete(gone, obj.GetName())
		s.objs[obj.GetName()] = obj
		if !seen {
			changes = append(changes, Change{New: item})
		} else if old.GetResourceVersion() != obj.GetResourceVersion() {
			changes = append(changes, Change{Old: old, New: item})
		}
	}
	for _, old := range gone {
		changes = append(changes, Change{Old: old, New: old, Deleted: true})
	}
	if len(changes) > 0 {
		s.record(changes)
	}
	select {
	case <-s.listed:
	default:
		close(s.listed)
	}
	return nil
}

func (s *batchStore) apply(item any, deleted bool) error {
	obj, err := meta.Accessor(item)
	if err != nil {
		return err
	}
	change := Change{New: item, Deleted: deleted}
	if old, ok := s.objs[obj.GetName()]; ok {
		change.Old = old
	}
	if deleted {
		delete(s.objs, obj.GetName())
	} else {
		s.objs[obj.GetName()] = obj
	}
	s.record([]Change{change})
	return nil
}

// Stop ends the watch.
func (o *Observer) Stop() { o.stop() }

// SetBounds sets the bounds checked from now on (and checks the current state against them).
func (o *Observer) SetBounds(b Bounds) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.bounds = b
	o.check(o.snapshot())
}

func (o *Observer) record(changes []Change) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range changes {
		o.countChurn(c)
		Apply(c, o.rss, o.pods)
	}
	st := o.snapshot()
	o.states = append(o.states, st)
	o.check(st)
}

func (o *Observer) countChurn(c Change) {
	pod, ok := c.New.(*corev1.Pod)
	if !ok {
		return
	}
	old, _ := c.Old.(*corev1.Pod)
	switch {
	case old == nil && !c.Deleted:
		o.churn.Created++
	case (c.Deleted || pod.DeletionTimestamp != nil) && (old == nil || old.DeletionTimestamp == nil):
		o.churn.Deleted++
	}
}

// Churn returns the pods created and deleted so far.
func (o *Observer) Churn() PodChurn {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.churn
}

// Apply records change c in rss or pods, the ReplicaSets and pods by name.
func Apply(c Change, rss map[string]*appsv1.ReplicaSet, pods map[string]*corev1.Pod) {
	switch x := c.New.(type) {
	case *appsv1.ReplicaSet:
		put(rss, x.Name, x, c.Deleted)
	case *corev1.Pod:
		put(pods, x.Name, x, c.Deleted)
	}
}

func put[T any](byName map[string]T, name string, obj T, deleted bool) {
	if deleted {
		delete(byName, name)
	} else {
		byName[name] = obj
	}
}

func (o *Observer) snapshot() State { return StateOf(time.Now(), o.rss, o.pods) }

// StateOf is the state at of the ReplicaSets rss and the pods they control (by name).
func StateOf(at time.Time, rss map[string]*appsv1.ReplicaSet, pods map[string]*corev1.Pod) State {
	st := State{At: at}
	byUID := map[string]int{} // index into st.ReplicaSets
	for _, rs := range rss {
		s := ReplicaSetState{Name: rs.Name, Revision: rs.Annotations["stepwise.dev/revision"]}
		if rs.Spec.Replicas != nil {
			s.Desired = *rs.Spec.Replicas
		}
		if len(rs.Spec.Template.Spec.Containers) > 0 {
			s.Image = rs.Spec.Template.Spec.Containers[0].Image
		}
		byUID[string(rs.UID)] = len(st.ReplicaSets)
		st.ReplicaSets = append(st.ReplicaSets, s)
	}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil {
			continue
		}
		i, ok := byUID[string(ref.UID)]
		if !ok {
			continue
		}
		rs := &st.ReplicaSets[i]
		rs.Pods++
		switch {
		case p.DeletionTimestamp != nil:
			rs.Terminating++
		case PodCondition(p, corev1.PodReady):
			rs.Ready++
		}
	}
	sort.Slice(st.ReplicaSets, func(i, j int) bool { return st.ReplicaSets[i].Name < st.ReplicaSets[j].Name })
	return st
}

func (o *Observer) check(st State) { o.violations = append(o.violations, o.bounds.Check(st)...) }

// Check returns the bounds st breaks.
func (b Bounds) Check(st State) []string {
	var violations []string
	desired, counted, ready := st.Totals(b)
	if b.MaxReplicas > 0 && desired > b.MaxReplicas {
		violations = append(violations, fmt.Sprintf("%d desired replicas > %d: %s", desired, b.MaxReplicas, st))
	}
	if b.MaxReplicas > 0 && counted > b.MaxReplicas {
		violations = append(violations, fmt.Sprintf("%d pods > %d: %s", counted, b.MaxReplicas, st))
	}
	if ready < b.MinAvailable {
		violations = append(violations, fmt.Sprintf("%d available pods < %d: %s", ready, b.MinAvailable, st))
	}
	if b.Exclusive {
		withPods := 0
		for _, rs := range st.ReplicaSets {
			if rs.Pods > 0 {
				withPods++
			}
		}
		if withPods > 1 {
			violations = append(violations, "pods of two ReplicaSets at once: "+st.String())
		}
	}
	return violations
}

// Violations returns every bound broken so far.
func (o *Observer) Violations() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.violations)
}

// Current returns the latest observed state.
func (o *Observer) Current() State {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.snapshot()
}

// States returns every observed state.
func (o *Observer) States() []State {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.states)
}

// Sizes returns the sequence of distinct desired sizes, "image=n" per ReplicaSet by image,
// as the controllers wrote them.
func (o *Observer) Sizes() []string {
	var out []string
	for _, st := range o.States() {
		var parts []string
		for _, rs := range st.ReplicaSets {
			parts = append(parts, fmt.Sprintf("%s=%d", rs.Image, rs.Desired))
		}
		sort.Strings(parts)
		line := strings.Join(parts, " ")
		if len(out) == 0 || out[len(out)-1] != line {
			out = append(out, line)
		}
	}
	return out
}

// PodCondition reports whether the pod's condition of type t is True.
func PodCondition(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
