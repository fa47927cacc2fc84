// Command crdtrim drops the field descriptions inside a CRD's embedded pod template
// (spec.template) and job metrics' Job specs, which are documented upstream, so that a CRD fits
// in the last-applied-configuration annotation of a client-side `kubectl apply`. Stepwise's
// own fields keep their descriptions (kubectl explain), and every validation rule is kept.
//
//	crdtrim FILE...   rewrites each CRD file in place
//	crdtrim           reads one or more CRD documents on stdin, writes them to stdout
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "crdtrim:", err)
		os.Exit(1)
	}
}

func run(files []string) error {
	if len(files) == 0 {
		in, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		out, err := trim(in)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(out)
		return err
	}
	for _, file := range files {
		in, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		out, err := trim(in)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if err := os.WriteFile(file, out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// trim rewrites each YAML document ("---" separated, as controller-gen writes them).
func trim(in []byte) ([]byte, error) {
	var out bytes.Buffer
	for _, doc := range bytes.Split(in, []byte("\n---\n")) {
		doc = bytes.TrimPrefix(doc, []byte("---\n"))
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var crd map[string]any
		if err := yaml.Unmarshal(doc, &crd); err != nil {
			return nil, err
		}
		if err := trimTemplates(crd); err != nil {
			return nil, err
		}
		data, err := yaml.Marshal(crd)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	return out.Bytes(), nil
}

// trimTemplates drops the descriptions below every embedded upstream type in every version's
// schema: a Rollout's pod template (spec.template) and a job metric's Job spec
// (provider.job.spec, wherever metrics are). The embedded field's own description stays.
func trimTemplates(crd map[string]any) error {
	spec, _ := crd["spec"].(map[string]any)
	versions, _ := spec["versions"].([]any)
	for _, v := range versions {
		root, ok := lookup(v, "schema", "openAPIV3Schema").(map[string]any)
		if !ok {
			continue
		}
		if template, ok := lookup(root, "properties", "spec", "properties", "template").(map[string]any); ok {
			dropBelow(template)
		}
		trimJobSpecs(root)
	}
	return nil
}

// trimJobSpecs finds the job metrics' Job specs below node.
func trimJobSpecs(node any) {
	switch n := node.(type) {
	case map[string]any:
		if jobSpec, ok := lookup(n, "properties", "job", "properties", "spec").(map[string]any); ok {
			dropBelow(jobSpec)
		}
		for _, value := range n {
			trimJobSpecs(value)
		}
	case []any:
		for _, value := range n {
			trimJobSpecs(value)
		}
	}
}

// dropBelow drops the descriptions inside a field's schema, keeping the field's own.
func dropBelow(field map[string]any) {
	for key, value := range field {
		if key != "description" {
			dropDescriptions(value)
		}
	}
}

func lookup(node any, path ...string) any {
	for _, key := range path {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[key]
	}
	return node
}

// dropDescriptions removes every schema description below node. A property that happens to be
// named "description" is a schema (a map), never a string, so it stays.
func dropDescriptions(node any) {
	switch n := node.(type) {
	case map[string]any:
		if _, ok := n["description"].(string); ok {
			delete(n, "description")
		}
		for _, value := range n {
			dropDescriptions(value)
		}
	case []any:
		for _, value := range n {
			dropDescriptions(value)
		}
	}
}
