package analysis

import (
	"fmt"
	"strconv"
	"strings"
)

// Lookup returns the value at path in doc, a decoded JSON document. A path is dotted field
// names, with map keys in ['quotes'] and list indexes in [brackets], optionally after a
// leading "$" or "$.": `metadata.labels['app.kubernetes.io/name']`, `$.data.items[0].rate`.
// The empty path (or "$") is the whole document.
func Lookup(doc any, path string) (any, error) {
	steps, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	cur := doc
	for i, step := range steps {
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[step.key]
			if step.index >= 0 || !ok {
				return nil, fmt.Errorf("path %q: no field %q", path, steps[i].String())
			}
			cur = v
		case []any:
			if step.index < 0 || step.index >= len(node) {
				return nil, fmt.Errorf("path %q: %s is not an index of a list of %d", path, step, len(node))
			}
			cur = node[step.index]
		default:
			return nil, fmt.Errorf("path %q: %s: not an object or a list", path, step)
		}
	}
	return cur, nil
}

// pathStep is a field name (index -1) or a list index.
type pathStep struct {
	key   string
	index int
}

func (s pathStep) String() string {
	if s.index >= 0 {
		return fmt.Sprintf("[%d]", s.index)
	}
	return s.key
}

func parsePath(path string) ([]pathStep, error) {
	rest := strings.TrimPrefix(strings.TrimPrefix(path, "$"), ".")
	var steps []pathStep
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "['"):
			end := strings.Index(rest, "']")
			if end < 0 {
				return nil, fmt.Errorf("path %q: unterminated ['", path)
			}
			steps = append(steps, pathStep{key: rest[2:end], index: -1})
			rest = rest[end+2:]
		case strings.HasPrefix(rest, "["):
			end := strings.Index(rest, "]")
			if end < 0 {
				return nil, fmt.Errorf("path %q: unterminated [", path)
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("path %q: %q is not a list index", path, rest[1:end])
			}
			steps = append(steps, pathStep{index: n})
			rest = rest[end+1:]
		default:
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("path %q: empty field name", path)
			}
			steps = append(steps, pathStep{key: rest[:end], index: -1})
			rest = rest[end:]
		}
		rest = strings.TrimPrefix(rest, ".")
	}
	return steps, nil
}
