package rollout

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
)

// countingRecorder counts the events that reach it, per reason.
type countingRecorder struct {
	recorder.EventRecorder
	counts map[string]int
}

func (c *countingRecorder) Eventf(_, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	c.counts[reason]++
}

func TestEventsPassInABurstThenOnePerFiveMinutes(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	inner := &countingRecorder{counts: map[string]int{}}
	rec := newThrottledRecorder(inner, clk)
	web := &stepwisev1alpha1.Rollout{}
	web.UID = "web"
	api := &stepwisev1alpha1.Rollout{}
	api.UID = "api"
	scale := func(ro *stepwisev1alpha1.Rollout, n int) {
		for range n {
			rec.Eventf(ro, nil, "Normal", "ScalingReplicaSet", "Scaling", "Scaled up replica set %s to %d", "x", 1)
		}
	}

	scale(web, 40)
	rec.Eventf(web, nil, "Warning", "ProgressDeadlineExceeded", "Pausing", "stalled")
	scale(api, 3)
	if got := inner.counts["ScalingReplicaSet"]; got != eventBurst+3 {
		t.Errorf("%d scale events recorded, want the burst of %d for one Rollout and 3 for the other", got, eventBurst)
	}
	if inner.counts["ProgressDeadlineExceeded"] != 1 {
		t.Error("another reason shares the scale events' bucket")
	}
	clk.SetTime(clk.Now().Add(5 * time.Minute))
	scale(web, 5)
	if got := inner.counts["ScalingReplicaSet"]; got != eventBurst+4 {
		t.Errorf("after 5 minutes, %d scale events recorded in all, want one more", got)
	}
}
