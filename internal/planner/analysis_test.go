package planner

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/status"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

var errorRate = &stepwisev1alpha1.RolloutAnalysis{Templates: []stepwisev1alpha1.AnalysisTemplateRef{{TemplateName: "error-rate"}}}

// analysisCanary is 10 replicas of v1 whose next revisions go to 20%, are analysed, then go to
// everyone.
func analysisCanary() *stepwisev1alpha1.Rollout {
	return testutil.Rollout("web").Replicas(10).Surge("25%").Unavailable("25%").Image("v1").Steps(
		stepwisev1alpha1.CanaryStep{Replicas: ptr.To(intstr.FromString("20%"))},
		stepwisev1alpha1.CanaryStep{Analysis: errorRate},
		stepwisev1alpha1.CanaryStep{Replicas: ptr.To(intstr.FromString("100%"))},
	).Obj()
}

// newest is the name of the newest ReplicaSet.
func (s *sim) newest() string { return s.rss[len(s.rss)-1].Name }

func (s *sim) pausedReason() string {
	if cond := meta.FindStatusCondition(s.ro.Status.Conditions, stepwisev1alpha1.ConditionPaused); cond != nil {
		return cond.Reason
	}
	return ""
}

// An analysis step holds the canary at its pods until the run ends: success goes on, failure
// aborts (the stable revision gets every pod back), an inconclusive result pauses until
// promoted.
func TestAnalysisStepDecides(t *testing.T) {
	g := NewWithT(t)
	s := progressiveSim(t, analysisCanary(), 11, 1, 0.8)
	g.Expect(s.runs).To(BeEmpty(), "the first revision is not analysed")

	s.setImage("v2")
	s.until("the analysis of v2", s.hasRun("v2-step-2-0"))
	g.Expect(s.sizes()).To(Equal("v1=8 v2=2"))
	for range 20 {
		g.Expect(s.step().Scale).To(BeEmpty(), "nothing moves while the analysis runs")
	}
	g.Expect(s.pausedReason()).To(BeEmpty(), "a running analysis is not a pause")
	s.endAnalysis("v2-step-2-0", stepwisev1alpha1.AnalysisPhaseSuccessful)
	s.until("v2 rolled out", s.converged)
	g.Expect(s.sizes()).To(Equal("v1=0 v2=10"))

	s.setImage("v3")
	s.until("the analysis of v3", s.hasRun("v3-step-2-0"))
	s.endAnalysis("v3-step-2-0", stepwisev1alpha1.AnalysisPhaseFailed)
	plan := s.step()
	g.Expect(plan.AbortEvent).To(Equal(stepwisev1alpha1.EventAnalysisFailed))
	s.until("the abort", s.pausedFor(stepwisev1alpha1.ReasonRolloutAborted))
	s.until("v2 back on every pod", func() bool { return s.sizes() == "v1=0 v2=10 v3=0" })
	g.Expect(s.ro.Status.Canary.AbortReason).To(Equal(`analysis v3-step-2-0 failed: metric "m" Failed: measured 0.5`))
	complete := meta.FindStatusCondition(s.ro.Status.Conditions, stepwisev1alpha1.ConditionComplete)
	g.Expect(complete.Reason).To(Equal(stepwisev1alpha1.ReasonRolloutAborted))
	g.Expect(complete.Message).To(ContainSubstring("analysis v3-step-2-0 failed"))

	s.retry()
	s.until("a new analysis for the retry", s.hasRun("v3-step-2-1"))
	s.endAnalysis("v3-step-2-1", stepwisev1alpha1.AnalysisPhaseInconclusive)
	s.until("the inconclusive pause", s.pausedFor(stepwisev1alpha1.ReasonInconclusiveAnalysis))
	g.Expect(s.sizes()).To(Equal("v1=0 v2=8 v3=2"))
	g.Expect(s.ro.Status.Canary.PausedAnalysis).To(Equal("step-2"))
	next, err := status.Promote(s.ro, false)
	g.Expect(err).NotTo(HaveOccurred())
	s.ro.Status.Canary = next
	s.until("v3 rolled out", s.converged)
	g.Expect(s.sizes()).To(Equal("v1=0 v2=0 v3=10"))
}

// A promotion skips a running analysis step, and a new template supersedes the old one's run:
// both are terminated.
func TestAnalysisRunsThatNoLongerMatterAreStopped(t *testing.T) {
	g := NewWithT(t)
	s := progressiveSim(t, analysisCanary(), 12, 1, 0.8)
	s.setImage("v2")
	s.until("the analysis of v2", s.hasRun("v2-step-2-0"))
	s.promote()
	s.until("the run stopped", func() bool { return s.run("v2-step-2-0").Spec.Terminate })
	g.Expect(s.log).To(ContainElement(ContainSubstring("stop analysis v2-step-2-0: skipped: the rollout went past step-2 (Skipped)")))
	s.until("v2 rolled out", s.converged)

	s.setImage("v3")
	s.until("the analysis of v3", s.hasRun("v3-step-2-0"))
	s.setImage("v4")
	s.until("the v3 run stopped", func() bool { return s.run("v3-step-2-0").Spec.Terminate })
	g.Expect(s.log).To(ContainElement(ContainSubstring("stop analysis v3-step-2-0: superseded: the Rollout's template changed (Successful)")))
}

// Background analysis runs beside a rolling update without steps: a failure midway aborts it;
// a run still going when the rollout completes is stopped.
func TestBackgroundAnalysis(t *testing.T) {
	g := NewWithT(t)
	ro := testutil.Rollout("web").Replicas(10).Surge("1").Unavailable("0").Image("v1").Obj()
	ro.Spec.Strategy.RollingUpdate.Analysis = &stepwisev1alpha1.BackgroundAnalysis{RolloutAnalysis: *errorRate}
	s := progressiveSim(t, ro, 13, 2, 0.8)
	g.Expect(s.runs).To(BeEmpty(), "the first revision is not analysed")

	s.setImage("v2")
	s.until("the background analysis of v2", s.hasRun("v2-background-0"))
	s.until("v2 rolled out", s.converged)
	s.until("the run stopped", func() bool { return s.run("v2-background-0").Spec.Terminate })
	g.Expect(s.log).To(ContainElement(ContainSubstring("stop analysis v2-background-0: the rollout completed (Successful)")))

	s.setImage("v3")
	s.until("the background analysis of v3", s.hasRun("v3-background-0"))
	s.until("v3 midway", func() bool { return s.find(s.newest()).Status.AvailableReplicas >= 4 })
	s.endAnalysis("v3-background-0", stepwisev1alpha1.AnalysisPhaseFailed)
	s.until("the abort", s.pausedFor(stepwisev1alpha1.ReasonRolloutAborted))
	s.until("v2 back on every pod", func() bool { return s.sizes() == "v1=0 v2=10 v3=0" })
}

// An inconclusive background analysis freezes the new revision's size until promoted.
func TestInconclusiveBackgroundAnalysisHoldsUntilPromoted(t *testing.T) {
	g := NewWithT(t)
	ro := testutil.Rollout("web").Replicas(10).Surge("1").Unavailable("0").Image("v1").Obj()
	ro.Spec.Strategy.RollingUpdate.Analysis = &stepwisev1alpha1.BackgroundAnalysis{RolloutAnalysis: *errorRate}
	s := progressiveSim(t, ro, 14, 2, 0.8)
	s.setImage("v2")
	s.until("v2 midway", func() bool { return s.hasRun("v2-background-0")() && s.find(s.newest()).Status.AvailableReplicas >= 4 })
	s.endAnalysis("v2-background-0", stepwisev1alpha1.AnalysisPhaseInconclusive)
	s.until("the inconclusive pause", s.pausedFor(stepwisev1alpha1.ReasonInconclusiveAnalysis))
	frozen := *s.find(s.newest()).Spec.Replicas
	for range 20 {
		s.step()
		g.Expect(*s.find(s.newest()).Spec.Replicas).To(Equal(frozen), "the new revision grows no further")
	}
	next, err := status.Promote(s.ro, false)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(next.PromotedAnalyses).To(ConsistOf("background"))
	s.ro.Status.Canary = next
	s.until("v2 rolled out", s.converged)
}

// abortOn aborts a rollout as soon as a pod of the new revision crash-loops, fails to pull
// its image or restarts too often; an old revision's sick pod and the first revision never
// abort anything.
func TestAbortOnUnhealthyNewPods(t *testing.T) {
	crashing := func(hash string, restarts int32, waiting string) corev1.Pod {
		pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash + "-x", Labels: map[string]string{stepwisev1alpha1.PodTemplateHashLabel: hash}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: restarts}}}}
		if waiting != "" {
			pod.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting}
		}
		return pod
	}
	for _, tc := range []struct {
		name      string
		pod       func(newHash, oldHash string) corev1.Pod
		wantAbort string
	}{
		{"crash loop", func(n, _ string) corev1.Pod { return crashing(n, 1, "CrashLoopBackOff") }, "container app is waiting: CrashLoopBackOff"},
		{"image pull", func(n, _ string) corev1.Pod { return crashing(n, 0, "ErrImagePull") }, "container app is waiting: ErrImagePull"},
		{"restarts", func(n, _ string) corev1.Pod { return crashing(n, 4, "") }, "container app restarted 4 times (abortOn.restarts: 3)"},
		{"restarts within the limit", func(n, _ string) corev1.Pod { return crashing(n, 3, "") }, ""},
		{"another waiting reason", func(n, _ string) corev1.Pod { return crashing(n, 0, "ContainerCreating") }, ""},
		{"an old revision's pod", func(_, o string) corev1.Pod { return crashing(o, 9, "CrashLoopBackOff") }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ro := testutil.Rollout("web").Replicas(10).Surge("1").Unavailable("0").Image("v1").Obj()
			ro.Spec.AbortOn = &stepwisev1alpha1.AbortOn{Restarts: ptr.To[int32](3), WaitingReasons: []string{"CrashLoopBackOff", "ErrImagePull"}}
			s := progressiveSim(t, ro, 15, 2, 1)
			oldHash := s.rss[0].Labels[stepwisev1alpha1.PodTemplateHashLabel]
			s.setImage("v2")
			s.until("v2 started", func() bool { return len(s.rss) == 2 && *s.rss[1].Spec.Replicas > 0 })
			newHash := s.rss[1].Labels[stepwisev1alpha1.PodTemplateHashLabel]
			s.newPods = []corev1.Pod{tc.pod(newHash, oldHash)}
			plan := s.step()
			if tc.wantAbort == "" {
				g.Expect(plan.Canary.GetAborted()).To(BeFalse())
				s.until("v2 rolled out", s.converged)
				return
			}
			g.Expect(plan.AbortEvent).To(Equal(stepwisev1alpha1.EventPodUnhealthy))
			g.Expect(s.ro.Status.Canary.AbortReason).To(Equal("pod web-" + newHash + "-x of the new revision: " + tc.wantAbort))
			s.until("v1 back on every pod", func() bool { return s.sizes() == "v1=10 v2=0" })
		})
	}
}

// A canary pod that loses its availability while the step is analysed does not end the
// analysis: the run goes on, and the step waits for both.
func TestAnalysisStepSurvivesAnAvailabilityDip(t *testing.T) {
	g := NewWithT(t)
	s := progressiveSim(t, analysisCanary(), 16, 1, 1)
	s.setImage("v2")
	s.until("the analysis of v2", s.hasRun("v2-step-2-0"))
	canary := s.newest()
	for i := range s.pods[canary] {
		s.pods[canary][i].readyAt = -1 // unready from now on
	}
	for range 10 {
		s.step()
	}
	g.Expect(s.run("v2-step-2-0").Spec.Terminate).To(BeFalse(), "the run goes on")
	for i := range s.pods[canary] {
		s.pods[canary][i].readyAt = s.tick
	}
	s.endAnalysis("v2-step-2-0", stepwisev1alpha1.AnalysisPhaseSuccessful)
	s.until("v2 rolled out", s.converged)
}

// Going back to a template analysed before is a new revision, analysed anew: the earlier
// run's verdict is not reused.
func TestAnAnalysedTemplateComingBackIsAnalysedAgain(t *testing.T) {
	g := NewWithT(t)
	s := progressiveSim(t, analysisCanary(), 17, 1, 1)
	s.setImage("v2")
	s.until("the analysis of v2", s.hasRun("v2-step-2-0"))
	s.endAnalysis("v2-step-2-0", stepwisev1alpha1.AnalysisPhaseFailed)
	s.until("the abort", s.pausedFor(stepwisev1alpha1.ReasonRolloutAborted))
	s.setImage("v3")
	s.until("the analysis of v3", s.hasRun("v3-step-2-0"))
	s.endAnalysis("v3-step-2-0", stepwisev1alpha1.AnalysisPhaseSuccessful)
	s.until("v3 rolled out", s.converged)
	s.setImage("v2")
	s.until("a second run of v2", func() bool { return len(s.runs) == 3 })
	g.Expect(s.runs[2].Labels[stepwisev1alpha1.AnalysisRevisionLabel]).To(Equal("4"))
	g.Expect(s.runs[0].Labels[stepwisev1alpha1.AnalysisRevisionLabel]).To(Equal("2"))
	g.Expect(s.pausedReason()).NotTo(Equal(stepwisev1alpha1.ReasonRolloutAborted), "not aborted by the old verdict")
}

// Blue-green with analysis: a failing pre-promotion analysis never switches the active Service
// and scales the preview down; a failing post-promotion analysis switches straight back to the
// previous revision, which the analysis kept up past its scale-down delay.
func TestBlueGreenAnalysis(t *testing.T) {
	g := NewWithT(t)
	ro := blueGreenRollout(ptr.To[int32](0))
	ro.Spec.Strategy.BlueGreen.PrePromotionAnalysis = errorRate
	ro.Spec.Strategy.BlueGreen.PostPromotionAnalysis = errorRate
	ro.Spec.Strategy.BlueGreen.ScaleDownDelaySeconds = ptr.To[int32](5)
	s := progressiveSim(t, ro, 18, 1, 1)
	g.Expect(s.runs).To(BeEmpty(), "the first revision is not analysed")

	s.setImage("v2")
	s.until("the pre-promotion analysis", s.hasRun("v2-pre-promotion-0"))
	for range 10 {
		g.Expect(s.step().Services).To(BeEmpty(), "no switch while the preview is analysed")
	}
	s.endAnalysis("v2-pre-promotion-0", stepwisev1alpha1.AnalysisPhaseFailed)
	s.until("the abort", s.pausedFor(stepwisev1alpha1.ReasonRolloutAborted))
	s.until("v2 scaled down", func() bool { return s.sizes() == "v1=3 v2=0" })
	g.Expect(s.selectors["active"]).To(Equal(s.hashOf("v1")), "the active Service never moved")

	s.setImage("v3")
	s.until("the pre-promotion analysis of v3", s.hasRun("v3-pre-promotion-0"))
	s.endAnalysis("v3-pre-promotion-0", stepwisev1alpha1.AnalysisPhaseSuccessful)
	s.until("the switch", func() bool { return s.selectors["active"] == s.hashOf("v3") })
	s.until("the post-promotion analysis", s.hasRun("v3-post-promotion-0"))
	switched := s.tick
	s.until("past the scale-down delay", func() bool { return s.tick-switched > 10 })
	g.Expect(s.sizes()).To(Equal("v1=3 v2=0 v3=3"), "the previous revision stays up while the analysis runs")
	s.endAnalysis("v3-post-promotion-0", stepwisev1alpha1.AnalysisPhaseFailed)
	plan := s.step()
	g.Expect(plan.Services).To(ContainElement(ServiceSwitch{Service: "active", From: s.hashOf("v3"), To: s.hashOf("v1")}), "straight back")
	s.until("v3 scaled down", func() bool { return s.sizes() == "v1=3 v2=0 v3=0" })
	g.Expect(s.pausedReason()).To(Equal(stepwisev1alpha1.ReasonRolloutAborted))

	s.setImage("v4")
	s.until("the pre-promotion analysis of v4", s.hasRun("v4-pre-promotion-0"))
	s.endAnalysis("v4-pre-promotion-0", stepwisev1alpha1.AnalysisPhaseSuccessful)
	s.until("the post-promotion analysis of v4", s.hasRun("v4-post-promotion-0"))
	s.endAnalysis("v4-post-promotion-0", stepwisev1alpha1.AnalysisPhaseSuccessful)
	s.until("v4 complete", s.converged)
	g.Expect(s.sizes()).To(HaveSuffix("v4=3"))
}
