package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/stepwise-dev/stepwise/internal/testutil"
)

// Controller is the controller binary running as its own process, as users run it.
type Controller struct {
	cmd *exec.Cmd
	Log *testutil.Log
}

// StartController runs the manager binary (Options.Build must list ./cmd/manager) against the
// cluster with args after the flags every suite uses. It is killed when the tests end, if not
// before.
func (s *Suite) StartController(args ...string) (*Controller, error) {
	return s.StartControllerBinary(s.Binary("manager"), args...)
}

// StartControllerBinary is StartController with a manager binary built elsewhere (another
// version's).
func (s *Suite) StartControllerBinary(binary string, args ...string) (*Controller, error) {
	c := &Controller{Log: &testutil.Log{}}
	c.cmd = exec.Command(binary, append([]string{"--health-probe-bind-address=127.0.0.1:0", "--zap-log-level=2"}, args...)...)
	c.cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Cluster.Kubeconfig)
	c.cmd.Stdout, c.cmd.Stderr = c.Log, c.Log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the controller: %w", err)
	}
	s.AfterTests(func() error {
		c.Kill()
		return nil
	})
	return c, nil
}

// Kill ends the process at once (SIGKILL: no cleanup, no lease release), as a crash would.
func (c *Controller) Kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
}
