package providers

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/api/v1alpha1"

	"github.com/cxops/cxops/internal/egress"
)

// local lets providers call the test servers on loopback, which the default
// egress policy refuses.
var local = egress.Policy{Allow: egress.Loopback()}

// secretWord is planted in response bodies and credentials; no message may contain
// it.
const secretWord = "TOPSECRET"

// testServer is an httptest server that counts requests and whose handlers may
// block until the client gives up (or the test ends).
type testServer struct {
	*httptest.Server
	hits    atomic.Int32
	release chan struct{}
}

// newTestServer starts a plain (or TLS) server. Cleanup unblocks slow handlers
// before closing the server.
func newTestServer(t *testing.T, useTLS bool, h http.HandlerFunc) *testServer {
	t.Helper()
	ts := &testServer{release: make(chan struct{})}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.hits.Add(1)
		h(w, r)
	})
	ts.Server = httptest.NewUnstartedServer(wrapped)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake failures are expected
	if useTLS {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)                     // runs second
	t.Cleanup(func() { close(ts.release) }) // runs first: unblock slow handlers
	t.Cleanup(ts.CloseClientConnections)    // runs before both
	return ts
}

// block waits until the client goes away or the test ends. Slow handlers call it
// instead of sleeping.
func (ts *testServer) block(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-ts.release:
	}
}

// expectReason asserts that err is an *Error with the given reason and returns it.
func expectReason(g Gomega, err error, reason string) *Error {
	var pe *Error
	g.ExpectWithOffset(1, errors.As(err, &pe)).To(BeTrue(), "want *Error with reason %s, got %T %v", reason, err, err)
	g.ExpectWithOffset(1, pe.Reason).To(Equal(reason), "message: %s", pe.Message)
	g.ExpectWithOffset(1, pe.Message).NotTo(ContainSubstring(secretWord))
	g.ExpectWithOffset(1, pe.Error()).To(Equal(pe.Message))
	return pe
}

func duration(d time.Duration) *v1alpha1.Duration { return &v1alpha1.Duration{Duration: d} }

func ptrTo[T any](v T) *T { return &v }

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// closeProvider releases a provider's connections at the end of a test.
func closeProvider(t *testing.T, p Provider) {
	t.Cleanup(func() { CloseIdleConnections(p) })
}

// certPEM returns the PEM certificate of a TLS test server, which is its own CA.
func certPEM(ts *testServer) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
}
