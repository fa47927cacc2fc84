// Command stepwise-controller runs the Rollout controller.
package main

import (
	"flag"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	stepwisev1alpha1 "github.com/stepwise-dev/stepwise/api/v1alpha1"
	"github.com/stepwise-dev/stepwise/internal/controller/analysisrun"
	"github.com/stepwise-dev/stepwise/internal/controller/rollout"
)

func main() {
	var metricsAddr, probeAddr, leaderElectionNamespace, namespace string
	var leaderElect, secureMetrics bool
	var leaseDuration, renewDeadline, retryPeriod time.Duration
	var pprofAddr string
	var apiQPS float64
	var apiBurst, workers, analysisWorkers int
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "Address the metrics endpoint binds to, e.g. :8443, served over HTTPS to authenticated and authorized clients only; \"0\" turns it off.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS to authenticated and authorized clients only; false serves plain HTTP to anyone who reaches the address (local use).")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0", "Address the Go pprof endpoints bind to, e.g. 127.0.0.1:6060; \"0\" turns them off.")
	flag.Float64Var(&apiQPS, "kube-api-qps", 20, "Requests per second the controller may send to the API server (as kube-controller-manager's --kube-api-qps).")
	flag.IntVar(&apiBurst, "kube-api-burst", 30, "Burst of requests above --kube-api-qps (as kube-controller-manager's --kube-api-burst).")
	flag.IntVar(&analysisWorkers, "concurrent-analysis-syncs", 5, "AnalysisRuns measured at once: a measurement waits on the network for up to its metric's timeout.")
	flag.IntVar(&workers, "concurrent-rollout-syncs", 5, "Rollouts reconciled at once (as kube-controller-manager's --concurrent-deployment-syncs); one Rollout is never reconciled twice at once.")
	flag.StringVar(&namespace, "namespace", "", "Watch and manage Rollouts of this namespace only (then a Role there is all the RBAC it needs); empty: every namespace.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the liveness and readiness probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one of several controller replicas is active.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the pod's namespace in a cluster).")
	flag.DurationVar(&leaseDuration, "leader-elect-lease-duration", 15*time.Second, "How long a non-leader waits before taking over an unrenewed lease.")
	flag.DurationVar(&renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "How long the leader retries renewing before giving up leadership.")
	flag.DurationVar(&retryPeriod, "leader-elect-retry-period", 2*time.Second, "How often candidates retry acquiring or renewing the lease.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(stepwisev1alpha1.AddToScheme(scheme))

	options := ctrl.Options{
		Scheme: scheme,
		Cache:  rollout.CacheOptions(),
		// By default metrics only over HTTPS, to clients the API server authenticates and
		// authorizes (for instance a ServiceAccount bound to the stepwise-metrics-reader
		// ClusterRole).
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics},
		PprofBindAddress:        pprofAddr,
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "stepwise-controller.stepwise.dev",
		LeaderElectionNamespace: leaderElectionNamespace,
		LeaseDuration:           &leaseDuration,
		RenewDeadline:           &renewDeadline,
		RetryPeriod:             &retryPeriod,
	}
	if secureMetrics {
		options.Metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if namespace != "" {
		options.Cache.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = float32(apiQPS), apiBurst
	mgr, err := ctrl.NewManager(restConfig, options)
	if err != nil {
		log.Error(err, "Unable to create manager")
		os.Exit(1)
	}
	if err := rollout.NewReconciler(mgr).SetupWithManager(mgr, workers); err != nil {
		log.Error(err, "Unable to set up the Rollout controller")
		os.Exit(1)
	}
	if err := analysisrun.NewReconciler(mgr).SetupWithManager(mgr, analysisWorkers); err != nil {
		log.Error(err, "Unable to set up the AnalysisRun controller")
		os.Exit(1)
	}
	utilruntime.Must(mgr.AddHealthzCheck("healthz", healthz.Ping))
	utilruntime.Must(mgr.AddReadyzCheck("readyz", healthz.Ping))

	log.Info("Starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped")
		os.Exit(1)
	}
}
