package planner

import (
	"errors"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/revision"
	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// A name longer than MaxNameLength leaves no room for the ReplicaSets' names: Resolve refuses
// it with a message that says how long a name may be, for API servers that skip the CRD's rule.
func TestResolveRefusesANameTooLongForItsReplicaSets(t *testing.T) {
	g := NewWithT(t)
	_, err := Resolve(rolloutNamed(strings.Repeat("w", stepwisev1alpha1.MaxNameLength+1)))
	var invalidSpec *InvalidSpecError
	g.Expect(errors.As(err, &invalidSpec)).To(BeTrue(), "got %v", err)
	g.Expect(invalidSpec.Field).To(Equal("metadata.name"))
	g.Expect(invalidSpec.Message).To(HavePrefix("must be no more than 242 characters, got 243"))

	_, err = Resolve(rolloutNamed(strings.Repeat("w", stepwisev1alpha1.MaxNameLength)))
	g.Expect(err).NotTo(HaveOccurred())
}

// The longest name admitted, with the longest hash a template and collisionCount can give,
// still names a valid ReplicaSet.
func TestLongestNameLeavesRoomForTheLongestReplicaSetName(t *testing.T) {
	g := NewWithT(t)
	ro := rolloutNamed(strings.Repeat("w", stepwisev1alpha1.MaxNameLength))
	const longestHash = 10 // a uint32 in decimal digits
	for collisions := int32(0); len(revision.ComputeHash(&ro.Spec.Template, ro.Status.CollisionCount)) < longestHash; collisions++ {
		ro.Status.CollisionCount = ptr.To(collisions)
	}
	name := NewReplicaSet(ro).Name
	g.Expect(name).To(HaveLen(validation.DNS1123SubdomainMaxLength))
	g.Expect(validation.IsDNS1123Subdomain(name)).To(BeEmpty())
}

// rolloutNamed is the "web" Rollout renamed: its pods keep the label app=web, as a long name
// would not fit a label value.
func rolloutNamed(name string) *stepwisev1alpha1.Rollout {
	ro := testutil.Rollout("web").Obj()
	ro.Name = name
	return ro
}
