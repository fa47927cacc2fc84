package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/stepwise-dev/stepwise/internal/revision"
)

func newHistoryCmd(o *Options) *cobra.Command {
	var rev int64
	var output string
	cmd := &cobra.Command{
		Use:   "history ROLLOUT",
		Short: "List a Rollout's revisions with their change causes and images",
		Example: `  kubectl stepwise history hellok8s
  kubectl stepwise history hellok8s --revision=2   # the pod template of revision 2
  kubectl stepwise history hellok8s -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := exactlyOne(args); err != nil {
				return err
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			return o.runHistory(cmd.Context(), args[0], rev, output)
		},
	}
	cmd.Flags().Int64Var(&rev, "revision", 0, "See the details, including the pod template, of the revision specified.")
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format: json or yaml (data instead of a table).")
	return cmd
}

func (o *Options) runHistory(ctx context.Context, name string, rev int64, output string) error {
	c, ro, err := o.getRollout(ctx, name)
	if err != nil {
		return err
	}
	rss, err := replicaSetsOf(ctx, c, ro)
	if err != nil {
		return err
	}
	entries := revision.History(rss)
	if rev > 0 {
		e, ok := entryOf(entries, rev)
		switch {
		case !ok:
			return fmt.Errorf("unable to find the specified revision %d of rollout %q", rev, name)
		case output != "":
			return printData(o.Out, e, output)
		}
		return printRevision(o.Out, name, e)
	}
	if output != "" {
		return printData(o.Out, entries, output)
	}
	fmt.Fprintf(o.Out, "%s\n", objectRef(name))
	return printHistory(o.Out, entries)
}

// entryOf finds revision rev among entries.
func entryOf(entries []revision.Entry, rev int64) (revision.Entry, bool) {
	i := slices.IndexFunc(entries, func(e revision.Entry) bool { return e.Revision == rev })
	if i < 0 {
		return revision.Entry{}, false
	}
	return entries[i], true
}

// printHistory is the history table: REVISION, CHANGE-CAUSE, IMAGES, CREATED.
func printHistory(w io.Writer, entries []revision.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE\tIMAGES\tCREATED")
	for _, e := range entries {
		cause := e.ChangeCause
		if cause == "" {
			cause = "<none>"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", e.Revision, cause, strings.Join(e.Images, ","), e.Created.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return tw.Flush()
}

func printRevision(w io.Writer, name string, e revision.Entry) error {
	template, err := yaml.Marshal(e.Template)
	if err != nil {
		return err
	}
	cause := e.ChangeCause
	if cause == "" {
		cause = "<none>"
	}
	fmt.Fprintf(w, "rollout %q with revision #%d\nReplicaSet: %s\nChange-cause: %s\nPod Template:\n%s", name, e.Revision, e.ReplicaSet, cause, indent(string(template)))
	return nil
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "  " + strings.Join(lines, "\n  ") + "\n"
}

func checkOutput(output string) error {
	switch output {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("unable to match a printer for output format %q: allowed formats are json, yaml", output)
}

func printData(w io.Writer, data any, output string) error {
	var out []byte
	var err error
	if output == "json" {
		out, err = json.MarshalIndent(data, "", "    ")
		out = append(out, '\n')
	} else {
		out, err = yaml.Marshal(data)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
