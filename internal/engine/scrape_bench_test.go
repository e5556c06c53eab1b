package engine

import (
	"fmt"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/cxops/cxops/api/v1alpha1"
)

// BenchmarkScrape measures one /metrics scrape of 10,000 objectives with a value,
// a target, a warning bound and a state each (40,000 series), as the metrics
// server serves it: gather, encode the text format. apart=false is the
// engine's collector in a registry; apart=true is what the manager serves
// (SeriesApart, ObjectiveFamilies). The bytes and
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
	for _, apart := range []bool{false, true} {
		b.Run(fmt.Sprintf("apart=%v", apart), func(b *testing.B) {
			if apart {
				e.SeriesApart()
			}
			b.ReportAllocs()
			series := 0
			for b.Loop() {
				mfs, err := registry.Gather()
				if err != nil {
					b.Fatal(err)
				}
				if apart {
					mfs = append(mfs, e.ObjectiveFamilies()...)
				}
				enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
				series = 0
				for _, mf := range mfs {
					series += len(mf.GetMetric())
					if err := enc.Encode(mf); err != nil {
						b.Fatal(err)
					}
				}
			}
			if series < 3*owners {
				b.Fatalf("%d series, want at least %d", series, 3*owners)
			}
			b.ReportMetric(float64(series), "series")
		})
	}
}
