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
	"github.com/cxops/cxops/internal/providers"
)

// Options configure the cxops controllers.
type Options struct {
	// Concurrency is the number of concurrent reconciles per kind.
	Concurrency int
	// Heartbeat is how often a moment's last values are refreshed in status when
	// nothing changes. Transitions are written at once.
	Heartbeat time.Duration
	// FirstEvaluationWait is how long a new moment's status waits for its first
	// evaluation before it is written with Unknown objectives.
	FirstEvaluationWait time.Duration
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
}

// NewOptions turns flag values into Options with defaults for the rest.
func NewOptions(in OptionsInput) (Options, error) {
	policy, err := egress.ParsePolicy(in.EgressAllow, in.EgressDeny)
	if err != nil {
		return Options{}, fmt.Errorf("egress policy: %w", err)
	}
	policy.APIServer = in.APIServer
	o := Options{
		Concurrency:   in.Concurrency,
		Heartbeat:     in.Heartbeat,
		TaskRetention: in.TaskRetention,
		TaskKeep:      in.TaskKeep,
		Egress:        policy,
		Providers:     providers.Options{Policy: policy},
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
	if o.FirstEvaluationWait <= 0 {
		o.FirstEvaluationWait = 5 * time.Second
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
