package planner

import (
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the simulations")

// TestGoldenRolloutLogs plays fixed-seed rollouts and compares every step they take (tick,
// write, sizes, the planner's reason) with testdata/<name>.golden, so a change of behaviour
// shows up as a diff of that file in review. go test ./internal/planner -update rewrites them.
func TestGoldenRolloutLogs(t *testing.T) {
	rolling := func(surge, unavailable string) *stepwisev1alpha1.Rollout {
		return testutil.Rollout("web").Replicas(10).Surge(surge).Unavailable(unavailable).Image("v1").Obj()
	}
	toV2 := func(s *sim) {
		s.setImage("v2")
		s.until("v2 rolled out", s.converged)
	}
	for _, tc := range []struct {
		name string
		ro   *stepwisev1alpha1.Rollout
		play func(*sim)
	}{
		{"rolling-surge25pct-unavailable25pct", rolling("25%", "25%"), toV2},
		{"rolling-surge1-unavailable0", rolling("1", "0"), toV2},
		{"rolling-surge0-unavailable1", rolling("0", "1"), toV2},
		{"recreate", testutil.Rollout("web").Replicas(10).Image("v1").Recreate().Obj(), toV2},
		{"resize-mid-rollout", rolling("25%", "25%"), func(s *sim) {
			s.setImage("v2")
			for range 3 {
				s.step()
			}
			s.resize(20)
			s.until("v2 rolled out", s.converged)
		}},
		{"canary-steps", canaryRollout(), func(s *sim) {
			s.setImage("v2")
			s.until("pause at step 1", s.pausedFor(stepwisev1alpha1.ReasonCanaryPauseStep))
			s.promote()
			s.until("v2 rolled out", s.converged)
		}},
		{"partition", testutil.Rollout("web").Replicas(10).Image("v1").Partition("25%").Obj(), func(s *sim) {
			s.setImage("v2")
			s.until("the partition", s.pausedFor(stepwisev1alpha1.ReasonPartitionReached))
			s.setPartition("")
			s.until("v2 rolled out", s.converged)
		}},
		{"blue-green", blueGreenRollout(nil), func(s *sim) {
			s.setImage("v2")
			s.until("the pause before the switch", s.pausedFor(stepwisev1alpha1.ReasonAwaitingPromotion))
			s.promote()
			s.until("v2 rolled out", s.converged)
		}},
		{"blue-green-auto-promotion", blueGreenRollout(ptr.To[int32](5)), toV2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.name, tc.ro, rand.New(rand.NewPCG(1, 2)), 1, 0.8)
			tc.play(s)
			s.logf("done: %s", s.sizes())
			got := strings.Join(s.log, "\n") + "\n"
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./internal/planner -update writes it)", err)
			}
			if diff := lineDiff(string(want), got); diff != "" {
				t.Errorf("the simulation departs from %s (-want +got); if that is intended, go test ./internal/planner -update:\n%s", path, diff)
			}
		})
	}
}

// lineDiff is want and got line by line, lines only in want marked "-", only in got "+"
// (a longest common subsequence), or "" when they are equal. Golden logs are short, so the
// whole log is shown.
func lineDiff(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(strings.TrimSuffix(want, "\n"), "\n"), strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	// common[i][j] is the length of the longest common subsequence of w[i:] and g[j:].
	common := make([][]int, len(w)+1)
	for i := range common {
		common[i] = make([]int, len(g)+1)
	}
	for i := len(w) - 1; i >= 0; i-- {
		for j := len(g) - 1; j >= 0; j-- {
			if w[i] == g[j] {
				common[i][j] = common[i+1][j+1] + 1
			} else {
				common[i][j] = max(common[i+1][j], common[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			b.WriteString("  " + w[i] + "\n")
			i, j = i+1, j+1
		case i < len(w) && (j == len(g) || common[i+1][j] >= common[i][j+1]):
			b.WriteString("- " + w[i] + "\n")
			i++
		default:
			b.WriteString("+ " + g[j] + "\n")
			j++
		}
	}
	return b.String()
}
