package v1alpha1_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// Issue 11, observation 1: one Moment stored with `for: 3000000h` made every list
// of Moments fail to decode ("time: invalid duration"), and no reconcile ran in
// any namespace. The schema refuses such values now, but an object stored before
// still decodes: the list decodes whole, and the bad value is reported on its own
// object.
func TestAListWithAnUndecodableDurationStillDecodes(t *testing.T) {
	g := NewWithT(t)
	scheme := runtime.NewScheme()
	g.Expect(cxv1.AddToScheme(scheme)).To(Succeed())
	list := `{"apiVersion":"cx.cxops.io/v1alpha1","kind":"MomentList","items":[
	 {"metadata":{"name":"good","namespace":"a"},"spec":{"objectives":[{"name":"o","for":"10m","interval":"30s"}]}},
	 {"metadata":{"name":"bad","namespace":"b"},"spec":{"objectives":[{"name":"o","for":"3000000h","recoverFor":12}]}}]}`
	obj, _, err := serializer.NewCodecFactory(scheme).UniversalDeserializer().Decode([]byte(list), nil, nil)
	g.Expect(err).NotTo(HaveOccurred())
	items := obj.(*cxv1.MomentList).Items
	g.Expect(items).To(HaveLen(2))

	good := items[0].Spec.Objectives[0]
	g.Expect(good.For.Duration).To(Equal(10 * time.Minute))
	g.Expect(good.For.Err()).To(Succeed())
	g.Expect(good.Interval.Duration).To(Equal(30 * time.Second))

	bad := items[1].Spec.Objectives[0]
	g.Expect(bad.For.Invalid()).To(Equal("3000000h"))
	g.Expect(bad.For.Err()).To(MatchError(ContainSubstring(`"3000000h" is not a duration`)))
	g.Expect(bad.RecoverFor.Invalid()).To(Equal("12"))

	// What was read is what is written back, so nothing is lost.
	out, err := json.Marshal(bad)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(out)).To(ContainSubstring(`"for":"3000000h"`))
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&items[1])
	g.Expect(err).NotTo(HaveOccurred())
	var back cxv1.Moment
	g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u, &back)).To(Succeed())
	g.Expect(back.Spec.Objectives[0].For.Invalid()).To(Equal("3000000h"))
	good2, _ := json.Marshal(good)
	g.Expect(strings.Contains(string(good2), `"for":"10m0s"`)).To(BeTrue(), string(good2))
}
