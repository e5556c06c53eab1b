package controllers

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/cxops/cxops/internal/egress"
	"github.com/cxops/cxops/internal/notify"
	"github.com/cxops/cxops/internal/providers"
)

// Options configure the cxops controllers.
type Options struct {
	// Concurrency is the number of concurrent reconciles per kind.
	Concurrency int
	// Heartbeat is how often a moment's last values are refreshed in status when
	// nothing changes. Transitions are written at once.
	Heartbeat time.Duration
	// ReferenceGrace is how long a missing reference (journey, stage, source,
	// stream, secret) may stay missing before the object is Stalled.
	ReferenceGrace time.Duration
	// ProbeInterval is how often a ready signal source is probed again.
	ProbeInterval time.Duration
	// TaskResync bounds how long a task waits before it is looked at again for
	// escalation and retention.
	TaskResync time.Duration
	// TaskRetention is how long resolved remediation tasks are kept.
	TaskRetention time.Duration
	// TaskKeep is how many resolved tasks are kept per moment at most.
	TaskKeep int
	// Jitter spreads evaluation ticks by this fraction of their interval (default
	// 0.1; negative disables it, for tests on a fake clock).
	Jitter float64
	// Clock is the time source of the engine and the reconcilers.
	Clock Clock
	// Providers are the settings of every signal provider.
	Providers providers.Options
	// Egress guards every outbound call: webhook deliveries, and signal sources
	// when Providers.Policy is the zero Policy. The zero Policy is closed inside a
	// cluster (no loopback, private ranges, link-local or metadata addresses); tests
	// that call 127.0.0.1 pass egress.Policy{Allow: egress.Loopback()}.
	Egress egress.Policy
	// DeliveryWorkers is how many webhook notifications are sent at once, off
	// the reconcile workers (default 8).
	DeliveryWorkers int
	// DeliveryPerHost is how many of those workers may call one sink host
	// (host:port) at once (default DeliveryWorkers/4, at least 1), so that a
	// hanging sink cannot hold every worker.
	DeliveryPerHost int
	// DeliveryMinBackoff and DeliveryMaxBackoff bound the wait between attempts
	// of an undelivered notification: min after the first failure, doubling up
	// to max, then max for ever (defaults 1s and 5m; wall-clock time, because
	// backoff is about the receiver).
	DeliveryMinBackoff time.Duration
	DeliveryMaxBackoff time.Duration
	// Registerer receives the metrics; defaults to controller-runtime's registry.
	Registerer prometheus.Registerer
}

// Clock is a clock with tickers and delayed functions; clock.RealClock and the
// testing FakeClock are both.
type Clock interface {
	clock.WithTicker
	clock.WithDelayedExecution
}

// OptionsInput is what the manager's flags provide.
type OptionsInput struct {
	Concurrency int
	Heartbeat   time.Duration
	EgressAllow string
	EgressDeny  string
	// APIServer lists the Kubernetes API server's addresses, refused by the egress
	// policy unless allowed one by one (see egress.Policy.APIServer).
	APIServer     []netip.Addr
	HostRate      float64
	TaskRetention time.Duration
	TaskKeep      int
	// ReferenceGrace: see Options.ReferenceGrace.
	ReferenceGrace time.Duration
	// DeliveryWorkers: see Options.DeliveryWorkers.
	DeliveryWorkers int
}

// NewOptions turns flag values into Options with defaults for the rest.
func NewOptions(in OptionsInput) (Options, error) {
	policy, err := egress.ParsePolicy(in.EgressAllow, in.EgressDeny)
	if err != nil {
		return Options{}, fmt.Errorf("egress policy: %w", err)
	}
	policy.APIServer = in.APIServer
	o := Options{
		Concurrency:     in.Concurrency,
		Heartbeat:       in.Heartbeat,
		TaskRetention:   in.TaskRetention,
		TaskKeep:        in.TaskKeep,
		ReferenceGrace:  in.ReferenceGrace,
		DeliveryWorkers: in.DeliveryWorkers,
		Egress:          policy,
		Providers:       providers.Options{Policy: policy},
	}
	if in.HostRate > 0 {
		o.Providers.Limiter = egress.NewHostLimiter(rate.Limit(in.HostRate), max(1, int(in.HostRate)))
	}
	return o.withDefaults(), nil
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 5 * time.Minute
	}
	if o.ReferenceGrace <= 0 {
		o.ReferenceGrace = 2 * time.Minute
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 5 * time.Minute
	}
	if o.TaskResync <= 0 {
		o.TaskResync = 5 * time.Minute
	}
	if o.TaskRetention <= 0 {
		o.TaskRetention = 7 * 24 * time.Hour
	}
	if o.TaskKeep <= 0 {
		o.TaskKeep = 20
	}
	if o.DeliveryWorkers <= 0 {
		o.DeliveryWorkers = 8
	}
	if o.DeliveryPerHost <= 0 {
		o.DeliveryPerHost = max(1, o.DeliveryWorkers/4)
	}
	if o.DeliveryMinBackoff <= 0 {
		o.DeliveryMinBackoff = notify.MinBackoff
	}
	if o.DeliveryMaxBackoff < o.DeliveryMinBackoff {
		o.DeliveryMaxBackoff = max(o.DeliveryMinBackoff, notify.MaxBackoff)
	}
	if o.Providers.Policy.IsZero() {
		o.Providers.Policy = o.Egress
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Registerer == nil {
		o.Registerer = metrics.Registry
	}
	return o
}
