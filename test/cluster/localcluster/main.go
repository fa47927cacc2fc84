// Command localcluster starts and stops the local cluster in the background for make
// cluster-up and cluster-down:
//
//	localcluster up   [-dir .local/cluster] [-kubeconfig .local/kubeconfig]
//	localcluster down [-dir .local/cluster]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/stepwise-dev/stepwise/test/cluster"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: localcluster up|down [flags]")
		os.Exit(2)
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := flags.String("dir", ".local/cluster", "directory for the cluster's files")
	kubeconfig := flags.String("kubeconfig", ".local/kubeconfig", "where up copies the admin kubeconfig")
	nodes := flags.Int("nodes", 1, "number of kwok nodes")
	_ = flags.Parse(os.Args[2:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var err error
	if os.Args[1] == "up" {
		err = up(ctx, *dir, *kubeconfig, *nodes)
	} else {
		err = down(*dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

// up starts a detached cluster unless a healthy one already runs in dir.
func up(ctx context.Context, dir, kubeconfig string, nodes int) error {
	if c, err := cluster.Attach(dir); err == nil {
		if c.Healthy(ctx) {
			fmt.Printf("local cluster already running; KUBECONFIG=%s\n", kubeconfig)
			return copyFile(c.Kubeconfig, kubeconfig)
		}
		_ = c.Stop() // leftovers of a cluster that died
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, Nodes: nodes, Detach: true})
	if err != nil {
		return err
	}
	if err := copyFile(c.Kubeconfig, kubeconfig); err != nil {
		return err
	}
	fmt.Printf("local cluster up (logs in %s); KUBECONFIG=%s\n", filepath.Join(dir, "logs"), kubeconfig)
	return nil
}

func down(dir string) error {
	c, err := cluster.Attach(dir)
	if os.IsNotExist(err) {
		fmt.Println("no local cluster running")
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.Stop(); err != nil {
		return err
	}
	fmt.Println("local cluster stopped")
	return os.RemoveAll(dir)
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o600)
}
