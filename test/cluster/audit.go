package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// Permission is one verb on one resource ("rollouts/status" for a subresource).
type Permission struct{ Group, Resource, Verb string }

func (p Permission) String() string { return fmt.Sprintf("%s %s.%s", p.Verb, p.Resource, p.Group) }

// AuditEvent is the part of an audit.k8s.io/v1 Event that matters here.
type AuditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	UserAgent string `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		APIGroup    string `json:"apiGroup"`
		Namespace   string `json:"namespace"`
	} `json:"objectRef"`
	Annotations    map[string]string `json:"annotations"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// ReadAuditLog calls visit for each complete event of the audit log from byte offset from
// on, and returns the offset after the last one: a line the API server is still writing is
// left for the next read. An offset taken as the log's size may fall inside a line (the API
// server writes in buffered chunks): that line began before it, and is skipped.
func (c *Cluster) ReadAuditLog(from int64, visit func(*AuditEvent)) (int64, error) {
	f, err := os.Open(c.AuditLogPath())
	if err != nil {
		return from, err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil {
		return from, err
	} else if info.Size() < from {
		return from, fmt.Errorf("the audit log shrank below byte %d: rotated", from)
	}
	offset := max(from-1, 0) // from the byte before from, to know whether a line starts at from
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return from, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return from, err
	}
	if from > 0 {
		end := bytes.IndexByte(data, '\n') // of the line before from, or of the one from falls in
		if end < 0 {
			return from, nil
		}
		data, offset = data[end+1:], offset+int64(end+1)
	}
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	for line := range bytes.Lines(data) {
		var ev AuditEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return offset, fmt.Errorf("reading the audit log at byte %d: %w", offset, err)
		}
		offset += int64(len(line))
		visit(&ev)
	}
	return offset, nil
}

// AuditedPermissions reads the audit log of Options.AuditUser: the permissions its requests
// used, and the requests the API server refused as forbidden.
func (c *Cluster) AuditedPermissions() (used map[Permission]bool, forbidden []string, err error) {
	used = map[Permission]bool{}
	_, err = c.ReadAuditLog(0, func(ev *AuditEvent) {
		if ev.ObjectRef == nil || ev.User.Username != c.opts.AuditUser {
			return
		}
		resource := ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			resource += "/" + ev.ObjectRef.Subresource
		}
		p := Permission{Group: ev.ObjectRef.APIGroup, Resource: resource, Verb: ev.Verb}
		// RBAC's verdict, not any 403 (a terminating namespace refuses creates with 403 too).
		if ev.Annotations["authorization.k8s.io/decision"] == "forbid" {
			forbidden = append(forbidden, p.String())
			return
		}
		used[p] = true
	})
	return used, forbidden, err
}

// GrantedPermissions lists what a ClusterRole manifest grants, one Permission per verb.
func GrantedPermissions(clusterRoleFile string) (map[Permission]bool, error) {
	data, err := os.ReadFile(clusterRoleFile)
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		return nil, fmt.Errorf("reading %s: %w", clusterRoleFile, err)
	}
	granted := map[Permission]bool{}
	for _, rule := range role.Rules {
		for _, g := range rule.APIGroups {
			for _, r := range rule.Resources {
				for _, v := range rule.Verbs {
					if g == "*" || r == "*" || v == "*" {
						return nil, fmt.Errorf("%s grants a wildcard (%s %s.%s)", clusterRoleFile, v, r, g)
					}
					granted[Permission{Group: g, Resource: r, Verb: v}] = true
				}
			}
		}
	}
	return granted, nil
}

// Unused returns the granted permissions that were never used, sorted. Two verbs count as
// used when their partner is, because client libraries need them on paths a test run may not
// take: list with watch (an informer lists when the server cannot stream its initial state)
// and patch with create on events (the recorder patches a repeated event into a series).
func Unused(granted, used map[Permission]bool) []string {
	implied := map[Permission]bool{}
	for p := range used {
		switch {
		case p.Verb == "watch":
			implied[Permission{p.Group, p.Resource, "list"}] = true
		case p.Verb == "create" && p.Resource == "events":
			implied[Permission{p.Group, p.Resource, "patch"}] = true
		}
	}
	var out []string
	for p := range granted {
		if !used[p] && !implied[p] {
			out = append(out, p.String())
		}
	}
	sort.Strings(out)
	return out
}
