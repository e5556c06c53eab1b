package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func get(t *testing.T, tr *http.Transport, url string) (*http.Response, error) {
	t.Helper()
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if resp != nil {
		_ = resp.Body.Close()
	}
	return resp, err
}

func TestTransportRefusesMetadataBeforeConnecting(t *testing.T) {
	g := NewWithT(t)
	_, err := get(t, NewTransport(Policy{}, nil), "http://169.254.169.254/latest/meta-data/")
	// The error comes from the dialer's Control hook, which runs before connect(2):
	// no packet left for the metadata address.
	g.Expect(IsBlocked(err)).To(BeTrue(), "error: %v", err)
	var be *BlockedError
	g.Expect(errors.As(err, &be)).To(BeTrue())
	g.Expect(be.Addr).To(Equal(netip.MustParseAddr("169.254.169.254")))
}

func TestTransportChecksResolvedAddress(t *testing.T) {
	g := NewWithT(t)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	g.Expect(err).NotTo(HaveOccurred())

	// "localhost" is a name; the policy sees the address it resolves to.
	_, err = get(t, NewTransport(Policy{}, nil), "http://localhost:"+port+"/")
	g.Expect(IsBlocked(err)).To(BeTrue(), "error: %v", err)
	g.Expect(hits.Load()).To(BeZero())
}

func TestTransportAllowList(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)

	t.Run("allow list excluding loopback refuses the test server", func(t *testing.T) {
		g := NewWithT(t)
		allow, err := ParsePrefixes("10.0.0.0/8")
		g.Expect(err).NotTo(HaveOccurred())
		_, err = get(t, NewTransport(Policy{Allow: allow}, nil), srv.URL)
		g.Expect(IsBlocked(err)).To(BeTrue(), "error: %v", err)
		g.Expect(hits.Load()).To(BeZero())
	})
	t.Run("default policy refuses the test server on loopback", func(t *testing.T) {
		g := NewWithT(t)
		_, err := get(t, NewTransport(Policy{}, nil), srv.URL)
		g.Expect(IsBlocked(err)).To(BeTrue(), "error: %v", err)
		g.Expect(hits.Load()).To(BeZero())
	})
	t.Run("allow list including loopback reaches the test server", func(t *testing.T) {
		g := NewWithT(t)
		allow, err := ParsePrefixes("127.0.0.0/8,::1")
		g.Expect(err).NotTo(HaveOccurred())
		resp, err := get(t, NewTransport(Policy{Allow: allow}, nil), srv.URL)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		g.Expect(hits.Load()).To(BeEquivalentTo(1))
	})
}

func TestNewTransportSettings(t *testing.T) {
	g := NewWithT(t)
	tr := NewTransport(Policy{}, nil)
	g.Expect(tr.Proxy).To(BeNil())
	g.Expect(tr.MaxIdleConnsPerHost).To(Equal(MaxIdleConnsPerHost))
	g.Expect(tr.TLSHandshakeTimeout).To(Equal(TLSHandshakeTimeout))
	g.Expect(tr.DialContext).NotTo(BeNil())
}
