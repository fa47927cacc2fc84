package cluster

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Reading from any offset visits the events whose lines start at or after it, whole lines
// only: an offset inside a line (the log's size while the API server was writing it) skips
// that line, and a line not finished yet waits for the next read.
func TestReadAuditLogFromAnyOffset(t *testing.T) {
	c := &Cluster{Dir: t.TempDir()}
	lines := []string{`{"verb":"create"}`, `{"verb":"patch"}`, `{"verb":"update"}`}
	partial := `{"verb":"dele`
	log := strings.Join(lines, "\n") + "\n" + partial
	if err := os.MkdirAll(filepath.Dir(c.AuditLogPath()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.AuditLogPath(), []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	second := int64(len(lines[0]) + 1)
	complete := int64(len(log) - len(partial))
	for _, tc := range []struct {
		name  string
		from  int64
		verbs []string
	}{
		{"the start", 0, []string{"create", "patch", "update"}},
		{"a line's start", second, []string{"patch", "update"}},
		{"inside a line", second + 3, []string{"update"}},
		{"inside the first line", 1, []string{"patch", "update"}},
		{"the unfinished line", complete, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var verbs []string
			next, err := c.ReadAuditLog(tc.from, func(ev *AuditEvent) { verbs = append(verbs, ev.Verb) })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(verbs, tc.verbs) {
				t.Errorf("visited %v, want %v", verbs, tc.verbs)
			}
			if next != complete {
				t.Errorf("next read from %d, want %d (the unfinished line's start)", next, complete)
			}
		})
	}
}
