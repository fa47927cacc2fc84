// Package revision is pure revision bookkeeping shared by the controller and the plugin:
// pod-template hashes and equality, revision numbers, history pruning.
package revision

import (
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// ComputeHash is the pod-template-hash of a template: FNV-32a over the template's JSON form
// (map keys sorted, so it is deterministic), salted with collisionCount when set, in
// Kubernetes' safe encoding (no vowels, so it never spells a word).
func ComputeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	hasher := fnv.New32a()
	data, err := json.Marshal(template)
	if err != nil {
		// A PodTemplateSpec always marshals; a failure here is a programming error.
		panic("marshalling a pod template: " + err.Error())
	}
	hasher.Write(data)
	if collisionCount != nil {
		salt := make([]byte, 8)
		binary.LittleEndian.PutUint32(salt, uint32(*collisionCount))
		hasher.Write(salt)
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(hasher.Sum32()), 10))
}
