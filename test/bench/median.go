package bench

import (
	"slices"
	"sort"
)

// median summarises repeated runs of one case through one controller: the median of each
// figure, a timeout if any run timed out (the completion then is the completed runs'), and
// every bound violation of every run.
func median(runs []Measure) Measure {
	if len(runs) == 1 {
		return runs[0]
	}
	of := func(figure func(Measure) float64) float64 {
		values := make([]float64, 0, len(runs))
		for _, m := range runs {
			values = append(values, figure(m))
		}
		return middle(values)
	}
	var m Measure
	var completed []float64
	for _, run := range runs {
		m.TimedOut = m.TimedOut || run.TimedOut
		if !run.TimedOut {
			completed = append(completed, run.CompletionSeconds)
		}
		m.Violations += run.Violations
		if m.FirstViolation == "" {
			m.FirstViolation = run.FirstViolation
		}
		m.StrictViolations += run.StrictViolations
		if m.FirstStrictViolation == "" {
			m.FirstStrictViolation = run.FirstStrictViolation
		}
	}
	m.CompletionSeconds = middle(completed)
	m.Decisions = int(of(func(m Measure) float64 { return float64(m.Decisions) }))
	m.DecisionP50Ms = of(func(m Measure) float64 { return m.DecisionP50Ms })
	m.DecisionP99Ms = of(func(m Measure) float64 { return m.DecisionP99Ms })
	m.ControllerWritesPerPod = of(func(m Measure) float64 { return m.ControllerWritesPerPod })
	m.CPUSeconds = of(func(m Measure) float64 { return m.CPUSeconds })
	m.PeakRSSMB = of(func(m Measure) float64 { return m.PeakRSSMB })
	m.APIServerCPUSeconds = of(func(m Measure) float64 { return m.APIServerCPUSeconds })
	clients, requests, processes := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, run := range runs {
		for client := range run.WritesPerPod {
			clients[client] = true
		}
		for request := range run.ControllerWrites {
			requests[request] = true
		}
		for process := range run.ClusterCPUSeconds {
			processes[process] = true
		}
	}
	m.WritesPerPod = map[string]float64{}
	for client := range clients {
		m.WritesPerPod[client] = of(func(m Measure) float64 { return m.WritesPerPod[client] })
	}
	m.ClusterCPUSeconds = map[string]float64{}
	for process := range processes {
		m.ClusterCPUSeconds[process] = of(func(m Measure) float64 { return m.ClusterCPUSeconds[process] })
	}
	m.ControllerWrites = map[string]int{}
	for request := range requests {
		m.ControllerWrites[request] = int(of(func(m Measure) float64 { return float64(m.ControllerWrites[request]) }))
	}
	return m
}

// middle is the median of values (the mean of the middle two for an even count), 0 for none.
func middle(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Clone(values)
	sort.Float64s(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
