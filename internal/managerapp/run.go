// Package managerapp is the cxops manager: its flags, options, readiness checks and
// controllers. cmd/manager (production) and cmd/cxops-local (development, on a
// local control plane) both run it; this package never starts a control plane and
// must not import internal/localcp or envtest.
package managerapp

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
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

// Flags are the manager's command-line settings, shared by cmd/manager and the
// development entry point cmd/cxops-local.
type Flags struct {
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
	watchNS       string
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
	pprofAddr     string
	compression   bool
	// local is set by LocalDefaults: the manager runs on the local control plane.
	local bool
	// Zap configures the logger; the main sets it up before Run.
	Zap zap.Options
}

// BindFlags defines the manager's flags on fs; parse fs before Run.
func BindFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", ":8443",
		"Address of the metrics endpoint (:8443 for HTTPS, :8080 for HTTP, 0 to disable).")
	fs.BoolVar(&f.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS with authentication and authorization (TokenReview and SubjectAccessReview).")
	fs.BoolVar(&f.enableHTTP2, "enable-http2", false,
		"Enable HTTP/2 for the metrics server (off by default: CVE-2023-44487, CVE-2023-39325).")
	fs.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	fs.StringVar(&f.pprofAddr, "pprof-bind-address", "", "Address of the Go profiler (/debug/pprof/), such as 127.0.0.1:6060; off when empty.")
	fs.BoolVar(&f.leaderElect, "leader-elect", false,
		"Elect a leader so that only one replica evaluates signals and writes status.")
	fs.StringVar(&f.leaderElectNS, "leader-election-namespace", "",
		"Namespace of the leader election lease (defaults to the pod's namespace).")
	fs.DurationVar(&f.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "Leader election lease duration.")
	fs.DurationVar(&f.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "Leader election renew deadline.")
	fs.DurationVar(&f.retryPeriod, "leader-elect-retry-period", 2*time.Second, "Leader election retry period.")
	fs.IntVar(&f.concurrency, "concurrency", 4, "Concurrent reconciles per kind.")
	fs.Float64Var(&f.qps, "kube-api-qps", 50, "Queries per second to the Kubernetes API server.")
	fs.IntVar(&f.burst, "kube-api-burst", 100, "Burst of queries to the Kubernetes API server.")
	fs.BoolVar(&f.compression, "kube-api-compression", false,
		"Ask the Kubernetes API server to compress its answers (gzip). Off by default: inside a cluster, compressing the "+
			"lists the informers read at start costs the API server more CPU than it saves on the network.")
	fs.DurationVar(&f.heartbeat, "status-heartbeat", 5*time.Minute,
		"How often a moment's last values are refreshed in status when nothing changes (transitions are written at once).")
	fs.StringVar(&f.egressAllow, "egress-allow", "",
		"Comma-separated CIDRs outbound calls (signal sources, webhooks) may reach although denied by default: loopback, "+
			"10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7 and the API server's addresses are denied "+
			"unless listed here (the most specific entry decides; the API server only by its own address). "+
			"Example: the ClusterIP of an in-cluster Prometheus, 10.96.12.34.")
	fs.StringVar(&f.egressDeny, "egress-deny", "",
		"Comma-separated CIDRs outbound calls may not reach, in addition to the defaults (link-local and metadata addresses are always denied).")
	fs.Float64Var(&f.hostRate, "egress-host-rate", 10, "Outbound requests per second per host.")
	fs.DurationVar(&f.taskRetention, "task-retention", 7*24*time.Hour, "How long resolved remediation tasks are kept.")
	fs.IntVar(&f.taskKeep, "task-keep", 20, "How many resolved remediation tasks are kept per moment at most.")
	fs.IntVar(&f.deliveryWkrs, "delivery-workers", 8,
		"Concurrent webhook deliveries; at most a quarter of them call any one sink host.")
	fs.DurationVar(&f.refGrace, "reference-grace", 2*time.Minute,
		"How long a referenced object (journey, stage, source, stream, secret) may be missing before the object that names it is Stalled.")
	fs.DurationVar(&f.syncPeriod, "sync-period", 10*time.Hour, "Full resync period of the informers.")
	fs.StringVar(&f.watchNS, "watch-namespaces", "",
		"Comma-separated namespaces to watch; empty watches every namespace. With it, the manager needs its rules only as Roles in those namespaces.")
	f.Zap = zap.Options{Development: false}
	f.Zap.BindFlags(fs)
	return f
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

// Run runs the manager on cfg until ctx is done: the metrics and probe servers,
// the readiness checks and every controller. cfg is copied, not changed.
func Run(ctx context.Context, cfg *rest.Config, f *Flags) error {
	log := ctrl.Log.WithName("setup")
	cfg = rest.CopyConfig(cfg)

	var tlsOpts []func(*tls.Config)
	if !f.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   f.metricsAddr,
		SecureServing: f.secureMetrics,
		TLSOpts:       tlsOpts,
	}
	// Serves /metrics (metricsFilter), behind authentication and authorization
	// with --metrics-secure.
	metricsOpts.FilterProvider = metricsFilter(f.secureMetrics)

	cfg.QPS = float32(f.qps)
	cfg.Burst = f.burst
	cfg.UserAgent = "cxops-manager"
	// A kubeconfig that turns compression off keeps it off.
	cfg.DisableCompression = cfg.DisableCompression || !f.compression

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
		Cache:                         cacheOptions(f.syncPeriod, splitList(f.watchNS)),
		MapperProvider:                newMapper,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	sys, err := controllers.Setup(mgr, opts)
	if err != nil {
		return fmt.Errorf("setting up the controllers: %w", err)
	}
	serveObjectiveSeries(sys.Engine)
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
	return mgr.Start(ctx)
}

// splitList splits a comma-separated flag value, dropping empty items and spaces.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
