package providers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/api/v1alpha1"
)

type closingProvider struct{ closed int }

func (p *closingProvider) Query(context.Context, string) (float64, error) { return 1, nil }
func (p *closingProvider) Probe(context.Context) error                    { return nil }
func (p *closingProvider) CloseIdleConnections()                          { p.closed++ }

// mapProvider has an incomparable dynamic type.
type mapProvider struct{ m map[string]float64 }

func (p mapProvider) Query(_ context.Context, q string) (float64, error) { return p.m[q], nil }
func (p mapProvider) Probe(context.Context) error                        { return nil }

func TestRegistryClosesReplacedProviders(t *testing.T) {
	g := NewWithT(t)
	r := NewRegistry()
	a, b := &closingProvider{}, &closingProvider{}
	r.Set("ns/a", a)
	r.Set("ns/a", a) // same provider again: kept open
	g.Expect(a.closed).To(Equal(0))
	r.Set("ns/a", b)
	g.Expect(a.closed).To(Equal(1))
	got, ok := r.Get("ns/a")
	g.Expect(ok).To(BeTrue())
	g.Expect(got).To(BeIdenticalTo(b))
	r.Delete("ns/a")
	g.Expect(b.closed).To(Equal(1))
	_, ok = r.Get("ns/a")
	g.Expect(ok).To(BeFalse())

	// Incomparable provider types must not panic.
	r.Set("ns/m", mapProvider{m: map[string]float64{}})
	r.Set("ns/m", mapProvider{m: map[string]float64{}})
	r.Set("ns/m", a)
}

func TestRegistryKeepsAProviderBuiltFromTheSameInputs(t *testing.T) {
	g := NewWithT(t)
	r := NewRegistry()
	a, b, c := &closingProvider{}, &closingProvider{}, &closingProvider{}
	g.Expect(r.Keep("ns/a", "v1", a)).To(BeIdenticalTo(a))
	// The same inputs: the stored provider stays, the new one is dropped.
	g.Expect(r.Keep("ns/a", "v1", b)).To(BeIdenticalTo(a))
	g.Expect(a.closed).To(Equal(0))
	g.Expect(b.closed).To(Equal(1))
	got, _ := r.Get("ns/a")
	g.Expect(got).To(BeIdenticalTo(a))
	// New inputs replace it, and close the old one's idle connections.
	g.Expect(r.Keep("ns/a", "v2", c)).To(BeIdenticalTo(c))
	g.Expect(a.closed).To(Equal(1))
	// No inputs (Set) never match.
	r.Set("ns/a", a)
	g.Expect(r.Keep("ns/a", "", b)).To(BeIdenticalTo(b))
	// A deleted source starts afresh.
	r.Delete("ns/a")
	g.Expect(r.Keep("ns/a", "v2", c)).To(BeIdenticalTo(c))
}

func TestReasonOf(t *testing.T) {
	g := NewWithT(t)
	err := fmt.Errorf("wrapped: %w", Errorf(v1alpha1.ReasonNoData, "x"))
	g.Expect(ReasonOf(err, "Fallback")).To(Equal(v1alpha1.ReasonNoData))
	g.Expect(ReasonOf(errors.New("plain"), "Fallback")).To(Equal("Fallback"))
}

func TestDescribeNetErrorHidesURL(t *testing.T) {
	g := NewWithT(t)
	err := &url.Error{Op: "Get", URL: "http://h/x?apikey=" + secretWord, Err: errors.New("boom")}
	logs := &logSink{}
	pe := callError(context.Background(), err, newEndpoint("http://h/x", "http://h/x", 0, logs.logger(1)))
	g.Expect(pe.Reason).To(Equal(v1alpha1.ReasonUnreachable))
	g.Expect(pe.Message).To(Equal("could not get a valid answer from h (details in the manager's debug log)"))
	g.Expect(pe.Err.Error()).NotTo(ContainSubstring(secretWord))
	g.Expect(logs.all()).To(ContainSubstring("boom"))
	g.Expect(logs.all()).NotTo(ContainSubstring(secretWord))
	g.Expect(safeURL("https://user:" + secretWord + "@h:8443/p?apikey=" + secretWord + "#f")).To(Equal("https://h:8443/p"))
}
