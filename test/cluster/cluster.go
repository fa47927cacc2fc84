// Package cluster runs a local Kubernetes cluster from upstream components built from Go
// modules (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) with kwok standing in
// for the kubelet. Tests and the make targets (cluster-up, cluster-down, run) use it alike.
package cluster

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

//go:embed stages.yaml
var kwokStages []byte

// Controllers are the kube-controller-manager controllers the cluster runs besides the built-in
// Deployment controller, which stays on too (tests compare Stepwise against it) and may run in a
// process of its own (Options.SeparateDeploymentController). The job controller runs the Jobs of
// analysis; the resourcequota controller keeps a ResourceQuota's usage, which admission checks.
const Controllers = "replicaset,garbagecollector,namespace,serviceaccount,nodelifecycle,job,resourcequota"

// Options configure a cluster.
type Options struct {
	// Dir holds certificates, etcd data, logs, the kubeconfig and the state file.
	Dir string
	// BinDir holds the component binaries; default: $STEPWISE_BIN_DIR, else .local/bin of
	// the repository that contains the working directory.
	BinDir string
	// Nodes is the number of kwok nodes; default 1.
	Nodes int
	// ControllerManagerQPS and ControllerManagerBurst set kube-controller-manager's
	// --kube-api-qps/--kube-api-burst; 0 keeps its defaults (20/30).
	ControllerManagerQPS, ControllerManagerBurst int
	// Detach lets the components outlive this process (make cluster-up); otherwise they are
	// killed with it.
	Detach bool
	// AuditUser, when set, makes the API server log every request of that user (metadata
	// level, JSON lines) to AuditLogPath().
	AuditUser string
	// AuditWrites makes the API server log every write request of every client (metadata
	// level) to AuditLogPath(). It excludes AuditUser.
	AuditWrites bool
	// SeparateDeploymentController runs the built-in Deployment controller in a
	// kube-controller-manager process of its own, named DeploymentControllerProcess, so that
	// its CPU and memory can be measured apart from the ReplicaSet controller's.
	SeparateDeploymentController bool
}

// DeploymentControllerProcess names the process of Options.SeparateDeploymentController.
const DeploymentControllerProcess = "deployment-controller"

// Cluster is a running local cluster.
type Cluster struct {
	// Dir is where the cluster keeps its files.
	Dir string
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// Config is an admin REST config.
	Config *rest.Config

	opts      Options
	processes map[string]*exec.Cmd
	state     state
}

// state is what a detached cluster leaves in Dir/state.json so another process can find it.
type state struct {
	PIDs       map[string]int `json:"pids"`
	Kubeconfig string         `json:"kubeconfig"`
	// Commands are each component's binary and flags, kept so that a stopped component can
	// be started again as it was.
	Commands map[string][]string `json:"commands"`
}

const nodeAnnotation = "kwok.x-k8s.io/node"

// Start starts a cluster and returns once its API server answers and its nodes are Ready.
func Start(ctx context.Context, opts Options) (_ *Cluster, retErr error) {
	if opts.Nodes == 0 {
		opts.Nodes = 1
	}
	if opts.BinDir == "" {
		dir, err := DefaultBinDir()
		if err != nil {
			return nil, err
		}
		opts.BinDir = dir
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	for _, sub := range []string{"pki", "logs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	c := &Cluster{Dir: dir, opts: opts, processes: map[string]*exec.Cmd{}, state: state{PIDs: map[string]int{}}}
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%w (component logs in %s)", retErr, filepath.Join(dir, "logs"))
			_ = c.Stop()
		}
	}()

	certs, err := newCertificates()
	if err != nil {
		return nil, err
	}
	pki, err := certs.writeFiles(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("writing certificates: %w", err)
	}
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	apiURL := "https://127.0.0.1:" + strconv.Itoa(ports[2])

	if err := c.start("etcd",
		"--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync", "--log-level=warn",
	); err != nil {
		return nil, err
	}

	apiServerArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(ports[2]),
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + pki["apiserver.crt"], "--tls-private-key-file=" + pki["apiserver.key"],
		"--client-ca-file=" + pki["ca.crt"],
		"--service-account-key-file=" + pki["sa.key"],
		"--service-account-signing-key-file=" + pki["sa.key"],
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC,Node",
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
	}
	if opts.AuditUser != "" && opts.AuditWrites {
		return nil, errors.New("cluster options: AuditUser and AuditWrites exclude each other")
	}
	if opts.AuditUser != "" || opts.AuditWrites {
		policy := filepath.Join(dir, "audit-policy.yaml")
		rule := fmt.Sprintf("users: [%q]", opts.AuditUser)
		if opts.AuditWrites {
			rule = "verbs: [create, update, patch, delete, deletecollection]"
		}
		rules := "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n  " + rule + "\n- level: None\n"
		if err := os.WriteFile(policy, []byte(rules), 0o600); err != nil {
			return nil, err
		}
		apiServerArgs = append(apiServerArgs, "--audit-policy-file="+policy, "--audit-log-path="+c.AuditLogPath(), "--audit-log-mode=blocking",
			// The default rotates the log at 100 MB, under a reader that counts by offset.
			"--audit-log-maxsize=1000000")
	}
	if err := c.start("kube-apiserver", apiServerArgs...); err != nil {
		return nil, err
	}

	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	c.state.Kubeconfig = c.Kubeconfig
	if err := writeKubeconfig(c.Kubeconfig, apiURL, certs); err != nil {
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return nil, err
	}
	if err := c.waitAPIServer(ctx); err != nil {
		return nil, err
	}

	kcmArgs := []string{"--kubeconfig=" + c.Kubeconfig, "--leader-elect=false", "--secure-port=0"}
	if opts.ControllerManagerQPS > 0 {
		kcmArgs = append(kcmArgs, "--kube-api-qps="+strconv.Itoa(opts.ControllerManagerQPS))
	}
	if opts.ControllerManagerBurst > 0 {
		kcmArgs = append(kcmArgs, "--kube-api-burst="+strconv.Itoa(opts.ControllerManagerBurst))
	}
	controllers := Controllers + ",deployment"
	if opts.SeparateDeploymentController {
		controllers = Controllers
		if err := c.startBinary(DeploymentControllerProcess, "kube-controller-manager", append(kcmArgs, "--controllers=deployment")...); err != nil {
			return nil, err
		}
	}
	if err := c.start("kube-controller-manager", append(kcmArgs, "--controllers="+controllers)...); err != nil {
		return nil, err
	}
	if err := c.start("kube-scheduler", "--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0"); err != nil {
		return nil, err
	}
	stagesPath := filepath.Join(dir, "kwok-stages.yaml")
	if err := os.WriteFile(stagesPath, kwokStages, 0o600); err != nil {
		return nil, err
	}
	if err := c.start("kwok", "--kubeconfig="+c.Kubeconfig, "--config="+stagesPath,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector="+nodeAnnotation+"=fake",
		"--server-address=", "--node-lease-duration-seconds=40",
	); err != nil {
		return nil, err
	}
	if err := c.createNodes(ctx); err != nil {
		return nil, err
	}
	if err := c.writeState(); err != nil {
		return nil, err
	}
	return c, nil
}

// PID returns the process id of a component ("kube-apiserver", DeploymentControllerProcess,
// ...), or 0 when it does not run.
func (c *Cluster) PID(name string) int { return c.state.PIDs[name] }

// Processes returns the PID of each running component, by name.
func (c *Cluster) Processes() map[string]int { return maps.Clone(c.state.PIDs) }

// AuditLogPath is where the API server writes the audit log of Options.AuditUser or
// Options.AuditWrites.
func (c *Cluster) AuditLogPath() string { return filepath.Join(c.Dir, "logs", "audit.log") }

// Attach finds the detached cluster whose files are in dir.
func Attach(dir string) (*Cluster, error) {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, opts: Options{Dir: dir, Detach: true}}
	if err := json.Unmarshal(data, &c.state); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, "state.json"), err)
	}
	c.Kubeconfig = c.state.Kubeconfig
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return nil, err
	}
	return c, nil
}

// Healthy reports whether the API server answers /readyz.
func (c *Cluster) Healthy(ctx context.Context) bool {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error() == nil
}

// Stop kills every component (of a detached cluster too) and waits for them to exit.
func (c *Cluster) Stop() error {
	var errs []error
	// Reverse start order: the API server outlives its clients, etcd outlives the API server.
	for _, name := range []string{"kwok", "kube-scheduler", DeploymentControllerProcess, "kube-controller-manager", "kube-apiserver", "etcd"} {
		if err := c.kill(name); err != nil {
			errs = append(errs, err)
		}
	}
	if c.opts.Detach {
		if err := os.Remove(filepath.Join(c.Dir, "state.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RestartAPIServer kills the API server and starts it again with the same flags, on the same
// port and etcd, and waits until it answers.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	if err := c.StopComponent("kube-apiserver"); err != nil {
		return err
	}
	if err := c.StartComponent("kube-apiserver"); err != nil {
		return err
	}
	return c.waitAPIServer(ctx)
}

// StopComponent kills component name ("kube-apiserver", DeploymentControllerProcess, ...)
// and waits until it is gone; stopping a stopped component does nothing.
func (c *Cluster) StopComponent(name string) error {
	if err := c.kill(name); err != nil {
		return err
	}
	return c.writeState()
}

// StartComponent starts a stopped component again with the binary and flags it first ran
// with. It does not wait for the component to be ready.
func (c *Cluster) StartComponent(name string) error {
	if _, running := c.state.PIDs[name]; running {
		return fmt.Errorf("starting %s: it runs already", name)
	}
	command, ok := c.state.Commands[name]
	if !ok {
		return fmt.Errorf("starting %s: the cluster has no such component", name)
	}
	if err := c.startBinary(name, command[0], command[1:]...); err != nil {
		return err
	}
	return c.writeState()
}

func (c *Cluster) start(name string, args ...string) error {
	return c.startBinary(name, name, args...)
}

// startBinary starts process name from the component binary.
func (c *Cluster) startBinary(name, binary string, args ...string) error {
	logFile, err := os.OpenFile(filepath.Join(c.Dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(filepath.Join(c.opts.BinDir, binary), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so a Ctrl-C in the terminal of `make cluster-up` does not reach
	// it; without Detach it dies with this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !c.opts.Detach {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	if c.processes == nil {
		c.processes = map[string]*exec.Cmd{}
	}
	if c.state.Commands == nil { // an attached cluster's state file may predate them
		c.state.Commands = map[string][]string{}
	}
	c.processes[name] = cmd
	c.state.PIDs[name] = cmd.Process.Pid
	c.state.Commands[name] = append([]string{binary}, args...)
	if c.opts.Detach {
		// Reap it if it exits while we still run; after we exit, init does.
		go func() { _ = cmd.Wait() }()
	}
	return nil
}

func (c *Cluster) kill(name string) error {
	pid, ok := c.state.PIDs[name]
	if !ok {
		return nil
	}
	delete(c.state.PIDs, name)
	if cmd, own := c.processes[name]; own && !c.opts.Detach {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		delete(c.processes, name)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s (pid %d): %w", name, pid, err)
	}
	// Wait until the pid is gone, so ports and the etcd data directory are free again.
	return wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		if cmd, own := c.processes[name]; own && cmd.ProcessState != nil {
			return true, nil
		}
		return !processAlive(pid), nil
	})
}

// processAlive reports whether pid runs and is not a zombie.
func processAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func (c *Cluster) waitAPIServer(ctx context.Context) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for name, cmd := range c.processes {
			if cmd.ProcessState != nil {
				return false, fmt.Errorf("%s exited: %s", name, cmd.ProcessState)
			}
		}
		return c.Healthy(ctx), nil
	})
}

func (c *Cluster) createNodes(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	for i := range c.opts.Nodes {
		name := fmt.Sprintf("kwok-node-%d", i)
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{nodeAnnotation: "fake"},
			Labels:      map[string]string{"kubernetes.io/hostname": name, "type": "kwok"},
		}}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating node %s: %w", name, err)
		}
	}
	// Pods schedule only once kwok marked the nodes Ready and the node lifecycle controller
	// lifted the not-ready taint.
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil // the API server may still be settling: retry until the deadline
		}
		ready := 0
		for _, n := range nodes.Items {
			if len(n.Spec.Taints) == 0 && nodeReady(&n) {
				ready++
			}
		}
		return ready == c.opts.Nodes, nil
	})
}

func nodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (c *Cluster) writeState() error {
	data, err := json.MarshalIndent(c.state, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, "state.json"), data, 0o600)
}

func writeKubeconfig(path, server string, certs *certificates) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["stepwise-local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: certs.ca.cert}
	cfg.AuthInfos["stepwise-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: certs.admin.cert, ClientKeyData: certs.admin.key}
	cfg.Contexts["stepwise-local"] = &clientcmdapi.Context{Cluster: "stepwise-local", AuthInfo: "stepwise-admin", Namespace: "default"}
	cfg.CurrentContext = "stepwise-local"
	return clientcmd.WriteToFile(*cfg, path)
}

// FreePorts returns n loopback ports that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// DefaultBinDir is $STEPWISE_BIN_DIR, else .local/bin in the repository around the working
// directory.
func DefaultBinDir() (string, error) {
	if dir := os.Getenv("STEPWISE_BIN_DIR"); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".local", "bin"), nil
}

// RepoRoot is the nearest directory above the working directory that holds the project's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/stepwise-dev/stepwise\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no github.com/stepwise-dev/stepwise go.mod above the working directory")
		}
		dir = parent
	}
}
