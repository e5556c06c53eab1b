// Command manager runs the cxops controllers: it reconciles signal sources,
// journeys, moments, roadmap streams and remediation tasks, and (on the leader)
// evaluates the objectives' live signals.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	cxv1alpha1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/controllers"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(cxv1alpha1.AddToScheme(scheme))
}

type flags struct {
	metricsAddr   string
	secureMetrics bool
	enableHTTP2   bool
	probeAddr     string
	leaderElect   bool
	leaderElectNS string
	concurrency   int
	qps           float64
	burst         int
	heartbeat     time.Duration
	egressAllow   string
	egressDeny    string
	hostRate      float64
	taskRetention time.Duration
	taskKeep      int
	refGrace      time.Duration
	deliveryWkrs  int
	syncPeriod    time.Duration
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
	pprofAddr     string
	local         bool
	localDir      string
	zapOpts       zap.Options
}

func parseFlags() *flags {
	f := &flags{}
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", ":8443",
		"Address of the metrics endpoint (:8443 for HTTPS, :8080 for HTTP, 0 to disable).")
	flag.BoolVar(&f.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS with authentication and authorization (TokenReview and SubjectAccessReview).")
	flag.BoolVar(&f.enableHTTP2, "enable-http2", false,
		"Enable HTTP/2 for the metrics server (off by default: CVE-2023-44487, CVE-2023-39325).")
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.StringVar(&f.pprofAddr, "pprof-bind-address", "", "Address of the Go profiler (/debug/pprof/), such as 127.0.0.1:6060; off when empty.")
	flag.BoolVar(&f.leaderElect, "leader-elect", false,
		"Elect a leader so that only one replica evaluates signals and writes status.")
	flag.StringVar(&f.leaderElectNS, "leader-election-namespace", "",
		"Namespace of the leader election lease (defaults to the pod's namespace).")
	flag.DurationVar(&f.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "Leader election lease duration.")
	flag.DurationVar(&f.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "Leader election renew deadline.")
	flag.DurationVar(&f.retryPeriod, "leader-elect-retry-period", 2*time.Second, "Leader election retry period.")
	flag.IntVar(&f.concurrency, "concurrency", 4, "Concurrent reconciles per kind.")
	flag.Float64Var(&f.qps, "kube-api-qps", 50, "Queries per second to the Kubernetes API server.")
	flag.IntVar(&f.burst, "kube-api-burst", 100, "Burst of queries to the Kubernetes API server.")
	flag.DurationVar(&f.heartbeat, "status-heartbeat", 5*time.Minute,
		"How often a moment's last values are refreshed in status when nothing changes (transitions are written at once).")
	flag.StringVar(&f.egressAllow, "egress-allow", "",
		"Comma-separated CIDRs outbound calls (signal sources, webhooks) may reach although denied by default: loopback, "+
			"10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7 and the API server's addresses are denied "+
			"unless listed here (the most specific entry decides; the API server only by its own address). "+
			"Example: the ClusterIP of an in-cluster Prometheus, 10.96.12.34.")
	flag.StringVar(&f.egressDeny, "egress-deny", "",
		"Comma-separated CIDRs outbound calls may not reach, in addition to the defaults (link-local and metadata addresses are always denied).")
	flag.Float64Var(&f.hostRate, "egress-host-rate", 10, "Outbound requests per second per host.")
	flag.DurationVar(&f.taskRetention, "task-retention", 7*24*time.Hour, "How long resolved remediation tasks are kept.")
	flag.IntVar(&f.taskKeep, "task-keep", 20, "How many resolved remediation tasks are kept per moment at most.")
	flag.IntVar(&f.deliveryWkrs, "delivery-workers", 8,
		"Concurrent webhook deliveries; at most a quarter of them call any one sink host.")
	flag.DurationVar(&f.refGrace, "reference-grace", 2*time.Minute,
		"How long a referenced object (journey, stage, source, stream, secret) may be missing before the object that names it is Stalled.")
	flag.DurationVar(&f.syncPeriod, "sync-period", 10*time.Hour, "Full resync period of the informers.")
	flag.BoolVar(&f.local, "local", os.Getenv("CXOPS_LOCAL") == "1",
		"Run on a local control plane (kube-apiserver and etcd) instead of a cluster; the default when no cluster is reachable. Also CXOPS_LOCAL=1.")
	flag.StringVar(&f.localDir, "local-dir", ".cxops-local", "Where the local control plane keeps its data and writes its kubeconfig.")
	f.zapOpts = zap.Options{Development: false}
	f.zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	return f
}

func main() {
	f := parseFlags()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&f.zapOpts)))
	log := ctrl.Log.WithName("setup")
	if err := run(f); err != nil {
		log.Error(err, "manager stopped with an error")
		os.Exit(1)
	}
}

// cachesSynced is a readiness check that fails while an informer cache is not
// synced.
func cachesSynced(c interface {
	WaitForCacheSync(context.Context) bool
}) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("the informer caches are not synced")
		}
		return nil
	}
}

func run(f *flags) error {
	log := ctrl.Log.WithName("setup")

	cfg, stopLocal, err := clusterConfig(f)
	if err != nil {
		return err
	}
	defer stopLocal()

	var tlsOpts []func(*tls.Config)
	if !f.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   f.metricsAddr,
		SecureServing: f.secureMetrics,
		TLSOpts:       tlsOpts,
	}
	if f.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	cfg.QPS = float32(f.qps)
	cfg.Burst = f.burst
	cfg.UserAgent = "cxops-manager"

	apiServer := apiServerAddrs(cfg, f)
	opts, err := controllers.NewOptions(controllers.OptionsInput{
		Concurrency:     f.concurrency,
		Heartbeat:       f.heartbeat,
		EgressAllow:     f.egressAllow,
		EgressDeny:      f.egressDeny,
		APIServer:       apiServer,
		HostRate:        f.hostRate,
		TaskRetention:   f.taskRetention,
		TaskKeep:        f.taskKeep,
		ReferenceGrace:  f.refGrace,
		DeliveryWorkers: f.deliveryWkrs,
	})
	if err != nil {
		return err
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOpts,
		WebhookServer:                 webhook.NewServer(webhook.Options{TLSOpts: tlsOpts}),
		HealthProbeBindAddress:        f.probeAddr,
		PprofBindAddress:              f.pprofAddr,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              "cxops.cx.cxops.io",
		LeaderElectionNamespace:       f.leaderElectNS,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &f.leaseDuration,
		RenewDeadline:                 &f.renewDeadline,
		RetryPeriod:                   &f.retryPeriod,
		Cache:                         cacheOptions(f.syncPeriod),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	sys, err := controllers.Setup(mgr, opts)
	if err != nil {
		return fmt.Errorf("setting up the controllers: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	// Not ready while an informer cannot list its kind (an object it cannot decode,
	// RBAC): the controllers would be blind.
	if err := mgr.AddReadyzCheck("informers", cachesSynced(mgr.GetCache())); err != nil {
		return err
	}
	// Not ready while the leader's evaluation makes no progress.
	if err := mgr.AddReadyzCheck("evaluation", func(*http.Request) error { return sys.Engine.Stalled() }); err != nil {
		return err
	}
	log.Info("starting manager", "leaderElection", f.leaderElect, "metrics", f.metricsAddr, "heartbeat", f.heartbeat,
		"egress", opts.Egress.String())
	return mgr.Start(ctrl.SetupSignalHandler())
}
