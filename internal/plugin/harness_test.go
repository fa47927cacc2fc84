package plugin

import (
	"io"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	gomegatypes "github.com/onsi/gomega/types"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// testNamespace is where every test object lives; commands get it through -n.
const testNamespace = "shop"

// testNow is the plugin's clock in tests.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newFakeClient is an API server holding objs, with the Rollout's status subresource; funcs
// intercept its calls (a fake watch, a conflict).
func newFakeClient(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) client.WithWatch {
	t.Helper()
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&stepwisev1alpha1.Rollout{}).WithObjects(objs...).Build()
	return interceptor.NewClient(c, funcs)
}

// pluginCommand is `kubectl stepwise -n shop ARGS...` against c, printing to out; anything it
// writes to stderr fails the test.
func pluginCommand(t *testing.T, c client.WithWatch, out io.Writer, args ...string) *cobra.Command {
	o := &Options{
		ConfigFlags: genericclioptions.NewConfigFlags(true),
		IOStreams:   genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: stderrFails{t}},
		Now:         func() time.Time { return testNow },
		client:      c,
	}
	cmd := newRootCmd(o)
	cmd.SetArgs(append([]string{"-n", testNamespace}, args...))
	return cmd
}

// runPlugin runs a command line to its end and returns what it printed.
func runPlugin(t *testing.T, c client.WithWatch, args ...string) (string, error) {
	var out strings.Builder
	err := pluginCommand(t, c, &out, args...).Execute()
	return out.String(), err
}

type stderrFails struct{ t *testing.T }

func (w stderrFails) Write(p []byte) (int, error) {
	w.t.Errorf("the plugin wrote to stderr: %q", p)
	return len(p), nil
}

// verbCase is one command line run against a fake API server: what it prints, the error it
// returns, and what it leaves in the Rollout "web".
type verbCase struct {
	name  string
	objs  []client.Object
	funcs interceptor.Funcs
	args  []string
	// wantOut is the exact output, unless outMatches is set.
	wantOut    string
	outMatches gomegatypes.GomegaMatcher
	// wantErr is the exact error message; empty for success.
	wantErr string
	// change turns the stored Rollout into what the command must leave behind; nil: the
	// command changes nothing.
	change func(*stepwisev1alpha1.Rollout)
}

func runVerbCases(t *testing.T, cases []verbCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			c := newFakeClient(t, tc.funcs, tc.objs...)
			want := storedRollout(t, c)

			out, err := runPlugin(t, c, tc.args...)

			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
			} else {
				g.Expect(err).To(MatchError(tc.wantErr))
			}
			if tc.outMatches != nil {
				g.Expect(out).To(tc.outMatches)
			} else {
				g.Expect(out).To(Equal(tc.wantOut))
			}
			if want == nil {
				return
			}
			if tc.change != nil {
				tc.change(want)
			}
			got := storedRollout(t, c)
			g.Expect(got.Annotations).To(Equal(want.Annotations))
			g.Expect(got.Spec).To(Equal(want.Spec))
			g.Expect(got.Status).To(Equal(want.Status))
		})
	}
}

// storedRollout is the Rollout "web" as the API server holds it, nil when there is none.
func storedRollout(t *testing.T, c client.Client) *stepwisev1alpha1.Rollout {
	t.Helper()
	ro := &stepwisev1alpha1.Rollout{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: testNamespace, Name: "web"}, ro); err != nil {
		if client.IgnoreNotFound(err) != nil {
			t.Fatal(err)
		}
		return nil
	}
	return ro
}

// webRollout is the Rollout "web" at generation 1, observed and fully rolled out: 3 replicas
// of container web at nginx:1 beside a container sidecar; changes then edit it.
func webRollout(changes ...func(*stepwisev1alpha1.Rollout)) *stepwisev1alpha1.Rollout {
	ro := testutil.Rollout("web").Namespace(testNamespace).Replicas(3).Image("nginx:1").Obj()
	ro.Spec.Template.Spec.Containers = append(ro.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "envoy:1"})
	ro.Status = stepwisev1alpha1.RolloutStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3,
		AvailableReplicas: 3, Ready: "3/3", CurrentRevision: 1}
	for _, change := range changes {
		change(ro)
	}
	return ro
}

func paused(ro *stepwisev1alpha1.Rollout) { ro.Spec.Paused = true }

// replicaSetOf is the ReplicaSet ro's controller made for revision rev, with ro's template
// running image in its first container and labelled with its hash, all its pods available.
func replicaSetOf(ro *stepwisev1alpha1.Rollout, rev int64, image, changeCause string, replicas int32) *appsv1.ReplicaSet {
	b := testutil.ReplicaSet(ro, image).Revision(rev).Replicas(replicas).Available(replicas)
	b.Hash(revision.ComputeHash(&b.Obj().Spec.Template, nil))
	if changeCause != "" {
		b.ChangeCause(changeCause)
	}
	return b.Obj()
}

func objects(objs ...client.Object) []client.Object { return objs }
