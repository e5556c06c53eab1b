package notify

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A host whose jobs hang holds at most PerHost workers: other hosts' jobs run.
func TestDispatcherIsFairPerHost(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	hang := make(chan struct{})
	var hanging atomic.Int32
	ran := make(chan string, 10)
	d := NewDispatcher(DispatcherOptions{Workers: 4, PerHost: 2}, func(ctx context.Context, key string) time.Duration {
		if key[0] == 's' {
			hanging.Add(1)
			select {
			case <-hang:
			case <-ctx.Done():
			}
			return 0
		}
		ran <- key
		return 0
	})
	done := make(chan struct{})
	go func() { _ = d.Start(ctx); close(done) }()
	defer func() { close(hang); cancel(); <-done }()

	for _, k := range []string{"s1", "s2", "s3", "s4", "s5"} {
		d.Add(Job{Key: k, Host: "slow:443"})
	}
	d.Add(Job{Key: "f1", Host: "fast:443"})
	d.Add(Job{Key: "f2", Host: "fast:443"})
	for range 2 {
		select {
		case <-ran:
		case <-time.After(5 * time.Second):
			t.Fatal("a healthy host's job did not run while another host hangs")
		}
	}
	if n := hanging.Load(); n > 2 {
		t.Fatalf("%d workers call the hanging host, want at most 2", n)
	}
}

// A job added while it runs runs once more; a retry runs after its delay.
func TestDispatcherRerunsAndRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runs atomic.Int32
	release := make(chan struct{})
	d := NewDispatcher(DispatcherOptions{Workers: 2}, func(context.Context, string) time.Duration {
		n := runs.Add(1)
		if n == 1 {
			<-release
		}
		if n == 2 {
			return 10 * time.Millisecond // a retry
		}
		return 0
	})
	go func() { _ = d.Start(ctx) }()
	d.Add(Job{Key: "k", Host: "h"})
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	d.Add(Job{Key: "k", Host: "h"}) // while running
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runs.Load(); n != 3 {
		t.Fatalf("job ran %d times, want 3 (first, again, retry)", n)
	}
}
