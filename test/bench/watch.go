package bench

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/stepwise-dev/stepwise/test/observe"
)

// groupLabel names the rollout a ReplicaSet or pod belongs to.
const groupLabel = "app"

// watcher is the one external clock of a case: it watches the ReplicaSets and pods of a
// namespace, per rollout, and timestamps what it sees as it sees it, for both controllers
// alike.
type watcher struct {
	mu     sync.Mutex
	groups map[string]*group
	cancel func()
	// keepTimeline makes each rollout armed from then on keep its timeline.
	keepTimeline bool
}

// group is one rollout as the watcher sees it.
type group struct {
	rss  map[string]*appsv1.ReplicaSet
	pods map[string]*corev1.Pod

	// Set by arm, when the template changes.
	armed    bool
	bounds   observe.Bounds
	replicas int32
	image    string
	changed  time.Time

	done       time.Time
	violations []string
	// strictViolations are the states whose pods that exist and are not terminating, all
	// counted, exceed the bound (what podReplacementPolicy TerminationStarted promises).
	strictViolations []string
	// unblocked is when the new ReplicaSet last reported more available pods that no scale
	// has followed yet; each scale after it is one decision.
	unblocked time.Time
	decisions []time.Duration
	// timeline is every state seen from the template change on, as one line of CSV each;
	// kept only when keepTimeline (the watcher's, when the rollout was armed).
	keepTimeline bool
	timeline     []string
}

// timelineHeader names the columns of a timeline line: seconds since the template change,
// then the new and the old revisions' desired, pods, ready and terminating pods, and the
// pods not yet scheduled.
const timelineHeader = "seconds,new_desired,new_pods,new_ready,new_terminating,old_desired,old_pods,old_ready,old_terminating,unscheduled"

func startWatcher(cs kubernetes.Interface, ns string) (*watcher, error) {
	w := &watcher{groups: map[string]*group{}}
	stop, err := observe.Watch(cs, ns, w.record)
	if err != nil {
		return nil, err
	}
	w.cancel = stop
	return w, nil
}

func (w *watcher) stop() { w.cancel() }

func (w *watcher) group(name string) *group {
	g := w.groups[name]
	if g == nil {
		g = &group{rss: map[string]*appsv1.ReplicaSet{}, pods: map[string]*corev1.Pod{}}
		w.groups[name] = g
	}
	return g
}

// record applies a batch of changes, then checks each rollout it touched once: a batch is a
// list after a broken watch, whose states in between never existed.
func (w *watcher) record(changes []observe.Change) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	touched := map[*group]bool{}
	for _, c := range changes {
		obj, ok := c.New.(metav1.Object)
		if !ok {
			continue
		}
		g := w.group(obj.GetLabels()[groupLabel])
		observe.Apply(c, g.rss, g.pods)
		if rs, ok := c.New.(*appsv1.ReplicaSet); ok {
			old, _ := c.Old.(*appsv1.ReplicaSet)
			g.noteReplicaSet(now, old, rs, c.Deleted)
		}
		touched[g] = true
	}
	for g := range touched {
		g.observe(now)
	}
}

// noteReplicaSet times decisions: the new ReplicaSet reporting more available pods unblocks
// the rollout; the next change of any ReplicaSet's desired size is the decision it allowed.
func (g *group) noteReplicaSet(now time.Time, old, rs *appsv1.ReplicaSet, deleted bool) {
	if !g.armed || !g.done.IsZero() || deleted {
		return
	}
	if old != nil && imageOf(rs) == g.image && rs.Status.AvailableReplicas > old.Status.AvailableReplicas {
		g.unblocked = now
	}
	scaled := old == nil || desired(old) != desired(rs)
	if scaled && !g.unblocked.IsZero() {
		g.decisions = append(g.decisions, now.Sub(g.unblocked))
		g.unblocked = time.Time{}
	}
}

// observe checks the bounds on the state just seen and notes when the rollout is complete:
// every pod runs the new template, replicas of them ready, and no old pod left, terminating
// ones included.
func (g *group) observe(now time.Time) {
	if !g.armed || !g.done.IsZero() {
		return
	}
	st := observe.StateOf(now, g.rss, g.pods)
	g.violations = append(g.violations, g.bounds.Check(st)...)
	g.strictViolations = append(g.strictViolations, observe.Bounds{MaxReplicas: g.bounds.MaxReplicas}.Check(st)...)
	if g.keepTimeline {
		g.timeline = append(g.timeline, g.timelineLine(now, st))
	}
	var ready, pods int32
	for _, rs := range st.ReplicaSets {
		if rs.Pods > 0 && rs.Image != g.image {
			return
		}
		ready += rs.Ready
		pods += rs.Pods
	}
	if ready == g.replicas && pods == g.replicas {
		g.done = now
	}
}

// timelineLine is state st at now as a line of the timeline.
func (g *group) timelineLine(now time.Time, st observe.State) string {
	var revisions [2]observe.ReplicaSetState // new, then every old one summed
	for _, rs := range st.ReplicaSets {
		i := 1
		if rs.Image == g.image {
			i = 0
		}
		revisions[i].Desired += rs.Desired
		revisions[i].Pods += rs.Pods
		revisions[i].Ready += rs.Ready
		revisions[i].Terminating += rs.Terminating
	}
	unscheduled := 0
	for _, p := range g.pods {
		if p.Spec.NodeName == "" {
			unscheduled++
		}
	}
	n, o := revisions[0], revisions[1]
	return fmt.Sprintf("%.3f,%d,%d,%d,%d,%d,%d,%d,%d,%d", now.Sub(g.changed).Seconds(),
		n.Desired, n.Pods, n.Ready, n.Terminating, o.Desired, o.Pods, o.Ready, o.Terminating, unscheduled)
}

// writeTimeline writes the timeline of each rollout of names to path, as CSV with a first
// column naming the rollout.
func (w *watcher) writeTimeline(path string, names []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	b.WriteString("rollout," + timelineHeader + "\n")
	for _, name := range names {
		if g := w.groups[name]; g != nil {
			for _, line := range g.timeline {
				b.WriteString(name + "," + line + "\n")
			}
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// settled reports whether every rollout runs replicas ready pods of one ReplicaSet, and
// nothing else: the state a case starts from.
func (w *watcher) settled(names []string, replicas int32) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range names {
		g := w.groups[name]
		if g == nil || len(g.rss) != 1 {
			return false
		}
		st := observe.StateOf(time.Now(), g.rss, g.pods)
		rs := st.ReplicaSets[0]
		if rs.Desired != replicas || rs.Ready != replicas || rs.Pods != replicas {
			return false
		}
	}
	return true
}

// arm starts the clock of rollout name: from now on its bounds are checked and its
// completion and decisions timed.
func (w *watcher) arm(name string, bounds observe.Bounds, replicas int32, newImage string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.group(name)
	g.armed, g.bounds, g.replicas, g.image, g.changed = true, bounds, replicas, newImage, time.Now()
	g.keepTimeline = w.keepTimeline
	g.observe(g.changed)
}

// complete reports whether every rollout of names is complete.
func (w *watcher) complete(names []string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range names {
		if g := w.groups[name]; g == nil || g.done.IsZero() {
			return false
		}
	}
	return true
}

// outcome is what the watcher measured over rollouts names.
type outcome struct {
	first, last time.Time // first template change, last completion
	decisions   []time.Duration
	violations  []string
	// strictViolations: see group.strictViolations.
	strictViolations []string
}

func (w *watcher) outcome(names []string) outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out outcome
	for _, name := range names {
		g := w.groups[name]
		if g == nil {
			continue
		}
		if out.first.IsZero() || g.changed.Before(out.first) {
			out.first = g.changed
		}
		if g.done.After(out.last) {
			out.last = g.done
		}
		out.decisions = append(out.decisions, g.decisions...)
		out.violations = append(out.violations, g.violations...)
		out.strictViolations = append(out.strictViolations, g.strictViolations...)
	}
	return out
}

func imageOf(rs *appsv1.ReplicaSet) string {
	if len(rs.Spec.Template.Spec.Containers) == 0 {
		return ""
	}
	return rs.Spec.Template.Spec.Containers[0].Image
}

func desired(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}
