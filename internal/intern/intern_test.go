package intern

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/json"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// momentJSON is a converged Moment as the API server sends it (managed fields
// aside), with NAME in place of its name.
const momentJSON = `{"apiVersion":"cx.cxops.io/v1alpha1","kind":"Moment","metadata":{"creationTimestamp":"2026-12-02T13:14:56Z",
"generation":1,"labels":{"bench.cxops.io/batch":"0"},"name":"NAME","namespace":"n10000-r1-mgr","resourceVersion":"44964",
"uid":"ad493a45-3735-4090-b2b3-d0bbc191e627","finalizers":["cx.cxops.io/task-notifications"]},
"spec":{"journeyRef":{"name":"journey-0"},"objectives":[{"interval":"30s","kpi":{"direction":"HigherIsBetter","type":"StockAccuracy"},
"name":"accuracy","signal":{"query":"sum(rate(cx_bench_requests_total{q=\"0\",code!~\"5..\"}[5m]))","sourceRef":{"name":"prom"}},
"target":{"operator":">=","value":"99.5"}}],"owner":"logistics","polarity":"Pain","stage":"order"},
"status":{"conditions":[{"lastTransitionTime":"2026-12-02T13:16:21Z","message":"all 1 objectives are met","observedGeneration":1,
"reason":"ObjectivesMet","status":"True","type":"Healthy"},{"lastTransitionTime":"2026-12-02T13:16:21Z","message":"1 objectives evaluated",
"observedGeneration":1,"reason":"Succeeded","status":"True","type":"Ready"}],"health":"Healthy","lastHeartbeatTime":"2026-12-02T13:16:21Z",
"objectives":[{"lastEvaluated":"2026-12-02T13:16:21Z","name":"accuracy","since":"2026-12-02T13:16:21Z","state":"Met",
"target":">= 99.5","value":"99.9"}],"observedGeneration":1}}`

func decode(t testing.TB, name string) *cxv1.Moment {
	t.Helper()
	m := &cxv1.Moment{}
	if err := json.UnmarshalCaseSensitivePreserveInts([]byte(strings.Replace(momentJSON, "NAME", name, 1)), m); err != nil {
		t.Fatal(err)
	}
	return m
}

func same(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

// Two cached Moments share the strings they have in common, and nothing else
// changes: the objects are equal to what was decoded.
func TestObjectSharesCommonStrings(t *testing.T) {
	g := NewWithT(t)
	var tab Table
	a, b := decode(t, "moment-00001"), decode(t, "moment-00002")
	a0, b0 := a.DeepCopy(), b.DeepCopy()
	g.Expect(same(a.Namespace, b.Namespace)).To(BeFalse(), "decoded strings are copies")
	tab.Object(a)
	tab.Object(b)
	g.Expect(reflect.DeepEqual(a, a0)).To(BeTrue())
	g.Expect(reflect.DeepEqual(b, b0)).To(BeTrue())

	g.Expect(same(a.Namespace, b.Namespace)).To(BeTrue())
	g.Expect(same(a.Finalizers[0], b.Finalizers[0])).To(BeTrue())
	g.Expect(same(a.Labels["bench.cxops.io/batch"], b.Labels["bench.cxops.io/batch"])).To(BeTrue())
	g.Expect(same(a.Spec.JourneyRef.Name, b.Spec.JourneyRef.Name)).To(BeTrue())
	g.Expect(same(a.Spec.Objectives[0].Signal.Query, b.Spec.Objectives[0].Signal.Query)).To(BeTrue())
	g.Expect(same(*a.Spec.Objectives[0].Target.Value, *b.Spec.Objectives[0].Target.Value)).To(BeTrue())
	g.Expect(same(a.Status.Conditions[0].Message, b.Status.Conditions[0].Message)).To(BeTrue())
	g.Expect(same(*a.Status.Objectives[0].Value, *b.Status.Objectives[0].Value)).To(BeTrue())
	g.Expect(sameMap(a.Labels, b.Labels)).To(BeTrue(), "equal labels are one map")
	// What is unique to an object is not interned.
	c := decode(t, "moment-00001")
	tab.Object(c)
	g.Expect(same(string(a.UID), string(c.UID))).To(BeFalse())
	g.Expect(same(a.ResourceVersion, c.ResourceVersion)).To(BeFalse())
	g.Expect(same(a.Name, c.Name)).To(BeFalse())
}

// The table is bounded: long strings are not kept, and a full table starts over.
func TestTableIsBounded(t *testing.T) {
	g := NewWithT(t)
	var tab Table
	long := strings.Repeat("x", MaxLen+1)
	g.Expect(tab.String(long)).To(Equal(long))
	g.Expect(tab.Len()).To(Equal(0))
	for i := range 3 * MaxEntries {
		tab.String(fmt.Sprintf("s%d", i))
		g.Expect(tab.Len()).To(BeNumerically("<=", MaxEntries))
	}
	a := tab.String(strings.Clone("shared"))
	g.Expect(same(tab.String(strings.Clone("shared")), a)).To(BeTrue())
}

func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// Only equal maps are shared, and only small ones; the shared maps are bounded as
// the strings are.
func TestOnlyEqualSmallMapsAreShared(t *testing.T) {
	g := NewWithT(t)
	var tab Table
	a := tab.stringMap(map[string]string{"team": "logistics", "tier": "1"})
	g.Expect(sameMap(a, tab.stringMap(map[string]string{"tier": "1", "team": "logistics"}))).To(BeTrue())
	g.Expect(a).To(Equal(map[string]string{"team": "logistics", "tier": "1"}))
	for _, other := range []map[string]string{
		{"team": "logistics"},
		{"team": "logistics", "tier": "2"},
		{"team": "logistics", "tier": "1", "x": ""},
		{"team": "logistics", "tier1": ""},
	} {
		b := tab.stringMap(other)
		g.Expect(sameMap(a, b)).To(BeFalse(), "%v", other)
		g.Expect(b).To(Equal(other))
	}
	// Values that hold what could separate entries are not confused.
	x := tab.stringMap(map[string]string{"a": "1:b1:c"})
	y := tab.stringMap(map[string]string{"a": "1", "b": "c"})
	g.Expect(x).To(Equal(map[string]string{"a": "1:b1:c"}))
	g.Expect(y).To(Equal(map[string]string{"a": "1", "b": "c"}))

	large := map[string]string{}
	for i := range MaxMapLen + 1 {
		large[fmt.Sprint(i)] = "v"
	}
	g.Expect(sameMap(tab.stringMap(large), tab.stringMap(large))).To(BeFalse(), "a large map is not shared")
	long := map[string]string{"note": strings.Repeat("x", MaxLen)}
	g.Expect(sameMap(tab.stringMap(long), tab.stringMap(long))).To(BeFalse(), "a long map is not shared")

	for i := range 2 * MaxEntries {
		tab.stringMap(map[string]string{"i": fmt.Sprint(i)})
		g.Expect(tab.MapLen()).To(BeNumerically("<=", MaxEntries))
	}
}

// Object leaves alone what it cannot or must not change.
func TestObjectIgnoresWhatIsNotAStruct(t *testing.T) {
	var tab Table
	tab.Object(nil)
	tab.Object("text")
	tab.Object((*cxv1.Moment)(nil))
	s := cxv1.SignalSource{ObjectMeta: metav1.ObjectMeta{Name: "figures", OwnerReferences: []metav1.OwnerReference{{Kind: "Journey", UID: types.UID("u")}}},
		Spec: cxv1.SignalSourceSpec{Static: cxv1.StaticSource{Values: map[string]cxv1.StaticValue{"stock": "99.8"}}}}
	tab.Object(&s)
	if s.OwnerReferences[0].Kind != "Journey" || s.Spec.Static.Values["stock"] != "99.8" {
		t.Fatalf("changed: %+v", s)
	}
}

// BenchmarkObject reports the heap a cached Moment takes as decoded and once
// interned (10,000 Moments that differ by name).
func BenchmarkObject(b *testing.B) {
	const n = 10000
	for _, interned := range []bool{false, true} {
		b.Run(fmt.Sprintf("interned=%v", interned), func(b *testing.B) {
			for b.Loop() {
				var tab Table
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				objs := make([]*cxv1.Moment, n)
				for i := range objs {
					objs[i] = decode(b, fmt.Sprintf("moment-%05d", i))
					if interned {
						tab.Object(objs[i])
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/moment")
				runtime.KeepAlive(objs)
			}
		})
	}
}
