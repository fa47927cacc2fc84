// Command bench runs the benchmark of Stepwise against the built-in Deployment controller on
// the local cluster (make bench) and writes results.json, results.md and completion.png.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/test/bench"
)

func main() {
	out := flag.String("out", ".local/bench", "Directory of the results (.local/ is not tracked, so a run leaves the working tree clean).")
	matrix := flag.String("matrix", "standard", "Cases: smoke, standard or full.")
	only := flag.String("cases", "", "Run only the cases whose name matches this regular expression, e.g. 'n=100 ' or '^$' for none.")
	profiles := flag.String("profiles", "default,fast", "kube-controller-manager rate-limit profiles, in order: default (20/30 QPS), fast (500/500).")
	idle := flag.String("idle", "1000,10000", "Numbers of idle Rollouts whose full resync is measured (in the last profile); empty for none.")
	quietBelow := flag.Float64("quiet-below", 0.25, "Before each run's template change, wait until the machine's CPU was busy less than this fraction over a second (0: don't wait).")
	timeline := flag.Bool("timeline", false, "Save every state the watcher saw in each run, as CSV in logs/ (timeline-<case>-<repetition>-<controller>.csv).")
	apiServerProfile := flag.Duration("apiserver-profile", 0, "Save a CPU profile of the API server over this long from each run's template change, in logs/ (0: none).")
	isolate := flag.Bool("isolate", true, "Run only the controller under test during each run, the other one stopped (false: both run throughout).")
	repeat := flag.Int("repeat", 1, "Run each case this many times through each controller, in alternating order, and report medians.")
	comparePolicy := flag.String("compare-policy", "", "Also run each case through Stepwise with Rollouts that set this podReplacementPolicy (TerminationComplete, ReplicaSetSizes), beside the default.")
	flag.Parse()

	if *repeat < 1 {
		fail(fmt.Errorf("-repeat: %d is not a positive number", *repeat))
	}
	opts := bench.Options{Out: *out, Matrix: *matrix, Repeat: *repeat, APIServerProfile: *apiServerProfile, Timeline: *timeline, QuietBelow: *quietBelow, Isolate: *isolate, Log: os.Stdout,
		ComparePolicy: stepwisev1alpha1.PodReplacementPolicy(*comparePolicy)}
	switch opts.ComparePolicy {
	case "", stepwisev1alpha1.PodReplacementPolicyTerminationComplete, stepwisev1alpha1.PodReplacementPolicyReplicaSetSizes:
	default:
		fail(fmt.Errorf("-compare-policy: %q is not a podReplacementPolicy other than the default (TerminationComplete, ReplicaSetSizes)", *comparePolicy))
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			fail(fmt.Errorf("-cases: %w", err))
		}
		opts.Only = re
	}
	for _, name := range strings.Split(*profiles, ",") {
		p, err := profile(name)
		if err != nil {
			fail(err)
		}
		opts.Profiles = append(opts.Profiles, p)
	}
	for _, s := range strings.Split(*idle, ",") {
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fail(fmt.Errorf("-idle: %q is not a positive number", s))
		}
		opts.Idle = append(opts.Idle, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := bench.Run(ctx, opts); err != nil {
		fail(err)
	}
	fmt.Printf("results in %s/results.md\n", *out)
}

func profile(name string) (bench.Profile, error) {
	for _, p := range bench.Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return bench.Profile{}, fmt.Errorf("-profiles: unknown profile %q (default, fast)", name)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
