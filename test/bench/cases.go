// Package bench runs identical rollouts through the built-in Deployment controller and through
// Stepwise on one local cluster, and measures them with one external watcher: completion
// time, decision latency, bound violations, API writes per replaced pod, controller CPU and
// memory. `make bench` runs it; a smoke case runs in `make test` so it cannot rot.
package bench

import (
	"fmt"
	"math"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Profile is a kube-controller-manager client rate limit; Stepwise gets the same.
type Profile struct {
	Name       string
	QPS, Burst int
}

// Profiles: kube-controller-manager's defaults, and one where the ReplicaSet controller's rate
// limit is not the bottleneck.
var Profiles = []Profile{
	{Name: "default", QPS: 20, Burst: 30},
	{Name: "fast", QPS: 500, Burst: 500},
}

// Case is one workload: Concurrent rollouts of Replicas pods each, changed at once.
type Case struct {
	Replicas                 int32
	MaxSurge, MaxUnavailable intstr.IntOrString
	ReadyDelay               time.Duration
	Concurrent               int
}

// Strategy is "maxSurge/maxUnavailable".
func (c Case) Strategy() string { return c.MaxSurge.String() + "/" + c.MaxUnavailable.String() }

func (c Case) String() string {
	return fmt.Sprintf("n=%d %s ready=%s x%d", c.Replicas, c.Strategy(), c.ReadyDelay, c.Concurrent)
}

// Bounds resolves maxSurge (rounded up) and maxUnavailable (rounded down) as a Deployment
// does, maxUnavailable 1 when both are 0.
func (c Case) Bounds() (surge, unavailable int32) {
	surge = int32(scaled(c.MaxSurge, c.Replicas, true))
	unavailable = int32(scaled(c.MaxUnavailable, c.Replicas, false))
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

func scaled(v intstr.IntOrString, total int32, roundUp bool) int {
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, int(total), roundUp)
	if err != nil {
		panic(fmt.Sprintf("bench case bound %s: %v", v.String(), err)) // the matrix is code
	}
	return n
}

// LowerBound is the least a rollout can take when only readiness costs time:
// ceil(replicas / (surge + unavailable)) waves of one ready delay each.
func (c Case) LowerBound() time.Duration {
	surge, unavailable := c.Bounds()
	waves := math.Ceil(float64(c.Replicas) / float64(surge+unavailable))
	return time.Duration(waves) * c.ReadyDelay
}

var (
	quarter = intstr.FromString("25%")
	one     = intstr.FromInt32(1)
	zero    = intstr.FromInt32(0)
)

// strategies are the three rolling-update shapes of the issue: 25%/25%, 1/0 and 0/1.
var strategies = [][2]intstr.IntOrString{{quarter, quarter}, {one, zero}, {zero, one}}

// Matrix returns the cases of a named matrix:
//   - smoke: one small case, for make test;
//   - standard: what make bench runs by default, sized for a small machine: every strategy
//     and ready delay at 10 replicas, every strategy at 100 (and 25%/25% with the ready
//     delay), 25%/25% at 1000, and 100 concurrent rollouts of 10;
//   - full: the whole cross product (hours; docs/performance.md says which cases a
//     small machine runs).
func Matrix(name string) ([]Case, error) {
	var out []Case
	add := func(n int32, s [2]intstr.IntOrString, delay time.Duration, concurrent int) {
		out = append(out, Case{Replicas: n, MaxSurge: s[0], MaxUnavailable: s[1], ReadyDelay: delay, Concurrent: concurrent})
	}
	delays := []time.Duration{0, time.Second}
	switch name {
	case "smoke":
		add(10, strategies[0], 0, 1)
	case "standard":
		for _, s := range strategies {
			for _, d := range delays {
				add(10, s, d, 1)
			}
		}
		for _, s := range strategies {
			add(100, s, 0, 1)
		}
		add(100, strategies[0], time.Second, 1)
		// At 1000 pods the ReplicaSet controller's pace, not readiness, sets the time: the
		// ready delay would add a long case that tells nothing new.
		add(1000, strategies[0], 0, 1)
		add(10, strategies[0], 0, 100)
	case "full":
		for _, concurrent := range []int{1, 100} {
			for _, n := range []int32{10, 100, 1000} {
				for _, s := range strategies {
					for _, d := range delays {
						add(n, s, d, concurrent)
					}
				}
			}
		}
	default:
		return nil, fmt.Errorf("unknown matrix %q (smoke, standard or full)", name)
	}
	return out, nil
}
