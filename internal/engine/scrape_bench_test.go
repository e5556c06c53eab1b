package engine

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/cxops/cxops/api/v1alpha1"
)

// BenchmarkScrape measures one /metrics scrape of 10,000 objectives with a value,
// a target, a warning bound and a state each (40,000 series), as the metrics
// server serves it: gather, encode the text format. apart=false is the
// engine's collector in a registry; text=true what the manager serves: the
// registry's families encoded, then the per-objective series written as text
// (SeriesApart, WriteObjectiveSeries). The bytes and
// allocations per scrape are what a Prometheus scraping every 15-30 s costs the
// manager's memory.
func BenchmarkScrape(b *testing.B) {
	const owners = 10000
	s := benchSpec(b)
	registry := prometheus.NewRegistry()
	e := New(Options{Clock: testingclock.NewFakeClock(t0), Registerer: registry})
	for i := range owners {
		e.Set(Owner{Kind: "Moment", Namespace: "shop", Name: fmt.Sprintf("moment-%05d", i)},
			[]Registration{reg("accuracy", "shop/prom", fmt.Sprintf("q%d", i), s)})
	}
	e.mu.Lock()
	for _, ow := range e.owners {
		for _, o := range ow.objs {
			o.state.Value, o.state.HasValue, o.state.State = 99.8, true, v1alpha1.StateMet
		}
	}
	e.mu.Unlock()
	for _, mode := range []string{"apart=false", "text=true"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "text=true" {
				e.SeriesApart()
			}
			b.ReportAllocs()
			var out countingWriter
			for b.Loop() {
				out = countingWriter{}
				mfs, err := registry.Gather()
				if err != nil {
					b.Fatal(err)
				}
				enc := expfmt.NewEncoder(&out, expfmt.NewFormat(expfmt.TypeTextPlain))
				for _, mf := range mfs {
					if err := enc.Encode(mf); err != nil {
						b.Fatal(err)
					}
				}
				if mode == "text=true" {
					if err := e.WriteObjectiveSeries(&out); err != nil {
						b.Fatal(err)
					}
				}
			}
			if out.lines < 3*owners {
				b.Fatalf("%d lines, want at least %d", out.lines, 3*owners)
			}
			b.ReportMetric(float64(out.lines), "lines")
		})
	}
}

// countingWriter counts the lines written to it.
type countingWriter struct{ lines int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}
