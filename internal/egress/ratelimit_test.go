package egress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"testing/synctest"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/time/rate"
)

func TestHostLimiterAllowIsPerHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewWithT(t)
		l := NewHostLimiter(1, 2)
		g.Expect(l.Allow("a:80")).To(BeTrue())
		g.Expect(l.Allow("a:80")).To(BeTrue())
		g.Expect(l.Allow("a:80")).To(BeFalse(), "burst used up")
		g.Expect(l.Allow("b:80")).To(BeTrue(), "another host has its own bucket")
		time.Sleep(time.Second) // fake time inside the bubble
		g.Expect(l.Allow("a:80")).To(BeTrue(), "one token refilled after a second")
	})
}

func TestHostLimiterWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewWithT(t)
		l := NewHostLimiter(rate.Every(10*time.Second), 1)
		ctx := context.Background()
		g.Expect(l.Wait(ctx, "h:443")).To(Succeed())

		start := time.Now()
		g.Expect(l.Wait(ctx, "h:443")).To(Succeed())
		g.Expect(time.Since(start)).To(Equal(10 * time.Second))

		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start = time.Now()
		err := l.Wait(short, "h:443")
		g.Expect(errors.Is(err, ErrRateLimited)).To(BeTrue())
		g.Expect(err).To(MatchError(ContainSubstring("h:443")))
		g.Expect(time.Since(start)).To(BeZero(), "gives up at once when the deadline is too close")
	})
}

func TestHostLimiterNilAndInf(t *testing.T) {
	g := NewWithT(t)
	var nilLimiter *HostLimiter
	g.Expect(nilLimiter.Wait(context.Background(), "x:1")).To(Succeed())
	g.Expect(nilLimiter.Allow("x:1")).To(BeTrue())
	inf := NewHostLimiter(rate.Inf, 0)
	for range 100 {
		g.Expect(inf.Allow("x:1")).To(BeTrue())
	}
	tr := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	g.Expect(nilLimiter.RoundTripper(tr)).NotTo(BeNil())
}

func TestHostLimiterForgetsIdleHosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewWithT(t)
		l := NewHostLimiter(1, 1)
		for i := range maxHosts {
			g.Expect(l.Allow(fmt.Sprintf("h%d:80", i))).To(BeTrue())
		}
		g.Expect(l.Allow("h0:80")).To(BeFalse(), "h0 is still tracked")
		time.Sleep(time.Second) // every bucket refills: all hosts are idle
		g.Expect(l.Allow("new:80")).To(BeTrue())
		l.mu.Lock()
		defer l.mu.Unlock()
		g.Expect(l.hosts).To(HaveLen(1), "idle hosts are forgotten once the map is full")
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestHostLimiterRoundTripper(t *testing.T) {
	g := NewWithT(t)
	var seen []string
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.URL.Host)
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	})
	rt := NewHostLimiter(rate.Every(time.Hour), 1).RoundTripper(next)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://svc.example:8080/x", nil)
	resp, err := rt.RoundTrip(req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))

	_, err = rt.RoundTrip(req)
	g.Expect(errors.Is(err, ErrRateLimited)).To(BeTrue())
	g.Expect(seen).To(Equal([]string{"svc.example:8080"}))
}

func TestHostKey(t *testing.T) {
	tests := map[string]string{
		"http://Example.COM/x":       "example.com:80",
		"https://example.com/x":      "example.com:443",
		"https://example.com:8443/x": "example.com:8443",
		"http://[::1]:9090/":         "[::1]:9090",
		"http://[::1]/":              "[::1]:80",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			u, err := url.Parse(in)
			if err != nil {
				t.Fatal(err)
			}
			NewWithT(t).Expect(HostKey(u)).To(Equal(want))
		})
	}
}
