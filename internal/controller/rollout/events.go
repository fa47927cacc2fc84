package rollout

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// Events per Rollout, type and reason pass in a burst of 25, then one per 5 minutes: the
// spam filter the built-in controllers' event recorder applies. Without it a 1000-pod rollout
// at maxSurge 1 would write 2000 scale events, more API writes than its pods cost.
const (
	eventBurst    = 25
	eventRefill   = 1.0 / 300 // per second
	eventLimiters = 4096      // Rollouts remembered, least recently used first out
)

// throttledRecorder drops events past the burst. The buckets live in memory only: after a
// restart a Rollout may get another burst, which costs a few events and loses nothing.
type throttledRecorder struct {
	recorder.EventRecorder
	clock clock.PassiveClock
	mu    sync.Mutex // one bucket per key even when workers race to create it
	// buckets maps "uid/type/reason" to a flowcontrol.PassiveRateLimiter.
	buckets *lru.Cache
}

func newThrottledRecorder(inner recorder.EventRecorder, clk clock.PassiveClock) *throttledRecorder {
	return &throttledRecorder{EventRecorder: inner, clock: clk, buckets: lru.New(eventLimiters)}
}

// Eventf records an event unless its Rollout's bucket for the type and reason is empty.
func (t *throttledRecorder) Eventf(regarding, related runtime.Object, eventType, reason, action, note string, args ...any) {
	if t.allow(regarding, eventType, reason) {
		t.EventRecorder.Eventf(regarding, related, eventType, reason, action, note, args...)
	}
}

func (t *throttledRecorder) allow(regarding runtime.Object, eventType, reason string) bool {
	obj, err := meta.Accessor(regarding)
	if err != nil {
		return true
	}
	key := string(obj.GetUID()) + "/" + eventType + "/" + reason
	t.mu.Lock()
	defer t.mu.Unlock()
	bucket, ok := t.buckets.Get(key)
	if !ok {
		bucket = flowcontrol.NewTokenBucketPassiveRateLimiterWithClock(eventRefill, eventBurst, t.clock)
		t.buckets.Add(key, bucket)
	}
	return bucket.(flowcontrol.PassiveRateLimiter).TryAccept()
}
