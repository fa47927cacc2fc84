package architecture

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stepwise-dev/stepwise/test/cluster"
)

// README is the front door: what and why, the two commands, reference tables and links.
// Guides live in docs/.
func TestReadmeStaysAFrontDoor(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(readme) > 20*1024 {
		t.Errorf("README.md is %d bytes, over 20 KB: move long explanations to docs/", len(readme))
	}
	if !strings.Contains(string(readme), "make test") {
		t.Error("README.md no longer shows `make test`, the one command that runs the tests")
	}
}

var (
	markdownLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)\)`)
	codeFence    = regexp.MustCompile("(?s)```.*?```")
	notInSlug    = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
)

// Every relative link of the documents resolves, to a file and, with #, to a heading of it.
func TestDocumentLinksResolve(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string{filepath.Join(root, "README.md"), filepath.Join(root, "bench", "results", "README.md")}, docs...)
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markdownLink.FindAllStringSubmatch(codeFence.ReplaceAllString(string(text), ""), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), path)
			}
			if _, err := os.Stat(dest); err != nil {
				t.Errorf("%s: link %s: %v", rel(root, file), target, err)
				continue
			}
			if anchor != "" && !hasHeading(t, dest, anchor) {
				t.Errorf("%s: link %s: %s has no heading #%s", rel(root, file), target, rel(root, dest), anchor)
			}
		}
	}
}

// hasHeading reports whether a Markdown file has a heading whose GitHub anchor is anchor.
func hasHeading(t *testing.T, file, anchor string) bool {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(codeFence.ReplaceAllString(string(text), ""), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		if strings.ReplaceAll(notInSlug.ReplaceAllString(heading, ""), " ", "-") == anchor {
			return true
		}
	}
	return false
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return r
	}
	return path
}
