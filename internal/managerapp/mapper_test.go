package managerapp

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type countingMapper struct {
	meta.RESTMapper
	calls int
}

func (c *countingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	c.calls++
	return c.RESTMapper.RESTMapping(gk, versions...)
}

func TestMemoMapperKeepsFoundMappingsOnly(t *testing.T) {
	gv := schema.GroupVersion{Group: "cx.cxops.io", Version: "v1alpha1"}
	def := meta.NewDefaultRESTMapper([]schema.GroupVersion{gv})
	def.Add(gv.WithKind("Moment"), meta.RESTScopeNamespace)
	inner := &countingMapper{RESTMapper: def}
	m := &memoMapper{RESTMapper: inner}
	gk := schema.GroupKind{Group: gv.Group, Kind: "Moment"}

	for range 3 {
		got, err := m.RESTMapping(gk, "v1alpha1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Resource.Resource != "moments" || got.Scope.Name() != meta.RESTScopeNameNamespace {
			t.Fatalf("mapping %+v", got)
		}
		got.Resource.Resource = "changed by a caller"
	}
	if inner.calls != 1 {
		t.Errorf("the wrapped mapper was asked %d times for one kind and version, want 1", inner.calls)
	}

	// A kind not found is asked again each time: it may be installed later.
	missing := schema.GroupKind{Group: gv.Group, Kind: "Missing"}
	for range 2 {
		if _, err := m.RESTMapping(missing, "v1alpha1"); !meta.IsNoMatchError(err) {
			t.Fatalf("missing kind: %v", err)
		}
	}
	if inner.calls != 3 {
		t.Errorf("calls %d, want 3: failures are not kept", inner.calls)
	}
	// Any other number of versions goes to the wrapped mapper.
	if _, err := m.RESTMapping(gk); err != nil {
		t.Fatal(err)
	}
	if inner.calls != 4 {
		t.Errorf("calls %d, want 4", inner.calls)
	}
}
