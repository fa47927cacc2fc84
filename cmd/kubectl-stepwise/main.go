// Command kubectl-stepwise is the kubectl plugin for Rollouts: kubectl stepwise status,
// history, undo, pause, resume, restart, set image, get.
package main

import (
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/stepwise-dev/stepwise/internal/plugin"
)

func main() {
	cmd := plugin.NewCmd(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err) // as kubectl prints errors
		os.Exit(1)
	}
}
