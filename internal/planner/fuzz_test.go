package planner

import (
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// FuzzRolloutKeepsBounds plays a rollout scenario built from fuzzed numbers against the
// simulated ReplicaSet controller: every plan keeps the bounds and the rollout converges.
func FuzzRolloutKeepsBounds(f *testing.F) {
	for _, seed := range []struct {
		replicas, resize         uint8
		surge, unavailable       string
		recreate, bad, resizeMid bool
		delay                    uint8
		sync                     uint8
		rngSeed                  uint64
	}{
		{3, 0, "1", "1", false, false, false, 0, 255, 1},
		{10, 20, "25%", "25%", false, false, true, 1, 200, 2},
		{10, 0, "0", "1", false, true, false, 2, 150, 3},
		{5, 0, "0", "0", true, false, false, 1, 180, 4},
		{25, 3, "100%", "0", false, false, true, 3, 128, 5},
	} {
		f.Add(seed.replicas, seed.resize, seed.surge, seed.unavailable, seed.recreate, seed.bad, seed.resizeMid, seed.delay, seed.sync, seed.rngSeed)
	}
	f.Fuzz(func(t *testing.T, replicas, resize uint8, surge, unavailable string, recreate, bad, resizeMid bool, delay, sync uint8, rngSeed uint64) {
		sc := scenario{
			replicas: int32(replicas % 40), resizeTo: int32(resize % 40),
			surge: fuzzBound(surge), unavailable: fuzzBound(unavailable),
			recreate: recreate, badVersion: bad, resizeMid: resizeMid,
			readyDelay: int(delay % 5), syncChance: 0.3 + float64(sync)/255*0.7,
		}
		if _, err := Resolve(sc.rollout()); err != nil {
			return // an invalid spec is rejected, not planned (TestInvalidSpecsNameTheField)
		}
		sc.run(t, rngSeed)
	})
}

// fuzzBound turns fuzzed text into a bound as a user could write it in YAML: a count (below
// 1000) or any other string.
func fuzzBound(s string) string {
	if n, err := strconv.Atoi(s); err == nil {
		return strconv.Itoa(n % 1000)
	}
	return s
}

// FuzzScaledValue checks int-or-percent parsing: never a panic; an accepted value is a sane
// count (0 ≤ n, and a percentage of total is within [0, ceil(p% × total)]).
func FuzzScaledValue(f *testing.F) {
	for _, s := range []string{"25%", "0%", "100%", "25", "25.5%", "-5%", "abc", "%", "+5%", "007%", "99999999999%"} {
		f.Add(s, int32(10), true)
	}
	f.Fuzz(func(t *testing.T, s string, total int32, roundUp bool) {
		if total < 0 {
			total = -total
		}
		total %= 100000
		v := intstr.FromString(s)
		n, err := scaledValue(&v, total, roundUp, "field")
		if err != nil {
			if !strings.Contains(err.Error(), "field") {
				t.Fatalf("error does not name the field: %v", err)
			}
			return
		}
		percent, convErr := strconv.Atoi(strings.TrimSuffix(s, "%"))
		if convErr != nil || !strings.HasSuffix(s, "%") || percent < 0 {
			t.Fatalf("accepted %q", s)
		}
		if n < 0 {
			t.Fatalf("%q of %d = %d", s, total, n)
		}
	})
}
