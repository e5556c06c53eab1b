package managerapp

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// Reachable reports whether the API server of cfg answers a version request
// within timeout.
func Reachable(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	c := rest.CopyConfig(cfg)
	c.Timeout = timeout
	dc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := dc.ServerVersion(); done <- err }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s", timeout)
	}
}

// WaitForAPIServer waits until the API server of cfg answers, retrying with
// exponential backoff (0.5 s doubling up to 15 s) and logging each failed try, for
// at most maxWait. An API server that is briefly down while the manager starts (an
// upgrade of the control plane) is waited for; one that stays down is an error
// that names it. The wait ends early when ctx is done.
func WaitForAPIServer(ctx context.Context, log logr.Logger, cfg *rest.Config, maxWait time.Duration) error {
	deadline := time.Now().Add(maxWait)
	backoff := wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: 15 * time.Second}
	for try := 1; ; try++ {
		left := time.Until(deadline)
		timeout := min(5*time.Second, max(left, time.Second))
		err := Reachable(ctx, cfg, timeout)
		if err == nil {
			if try > 1 {
				log.Info("the API server answers", "host", cfg.Host, "tries", try)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stopped while waiting for the API server at %s: %w", cfg.Host, ctx.Err())
		}
		left = time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("the Kubernetes API server at %s did not answer within --api-server-wait=%s (%d tries; last error: %v); "+
				"check the kubeconfig or the in-cluster service account. This manager never starts a control plane of its own: "+
				"for a local one, use `make run` (cmd/cxops-local)", cfg.Host, maxWait, try, err)
		}
		next := min(backoff.Step(), left)
		log.Info("the API server does not answer yet; retrying", "host", cfg.Host, "try", try, "retryIn", next.Round(time.Millisecond),
			"waitLeft", left.Round(time.Second), "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped while waiting for the API server at %s: %w", cfg.Host, ctx.Err())
		case <-time.After(next):
		}
	}
}
