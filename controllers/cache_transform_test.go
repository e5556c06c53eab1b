package controllers

import (
	"strings"
	"testing"
	"unsafe"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// Every cached object loses its managed fields and kubectl's last-applied
// annotation (a copy of the whole spec), and keeps its other annotations.
func TestCacheTransformDropsWhatNoControllerReads(t *testing.T) {
	g := NewWithT(t)
	m := moment("ns", "stock", "parts", "order", objective("accuracy", "figures", "stock", "99.5"))
	m.Annotations = map[string]string{
		corev1.LastAppliedConfigAnnotation: `{"spec":"a copy of everything"}`,
		cxv1.ReconcileRequestAnnotation:    "now",
	}
	m.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	out, err := CacheTransform()(m)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(metav1.Object).GetManagedFields()).To(BeEmpty())
	g.Expect(out.(metav1.Object).GetAnnotations()).To(Equal(map[string]string{cxv1.ReconcileRequestAnnotation: "now"}))

	// Strings that cached objects have in common are shared (internal/intern).
	other := moment(strings.Clone("ns"), "chat", "parts", "order", objective("accuracy", "figures", "stock", "99.5"))
	_, err = CacheTransform()(other)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(unsafe.StringData(other.Namespace)).To(Equal(unsafe.StringData(m.Namespace)))

	tomb := toolscache.DeletedFinalStateUnknown{Key: "ns/stock", Obj: m}
	out, err = CacheTransform()(tomb)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(tomb))
}
