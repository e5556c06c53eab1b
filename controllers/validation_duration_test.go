package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// TestValidationDurationRange reproduces a defect FuzzCompile (internal/engine)
// found: for and recoverFor were checked by pattern only, so the API server stored
// "3000000h", which no client can decode (it overflows time.Duration). One such
// Moment made every list of Moments fail to decode. Each field is written as raw
// text, which a typed object cannot hold.
func TestValidationDurationRange(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		field, value, wantErr string
	}{
		{"for", "3000000h", "for must be a duration from 0s to 720h"},
		{"recoverFor", "9223372036854775808ns", "recoverFor must be a duration from 0s to 720h"},
		{"for", "2562047h", "for must be a duration from 0s to 720h"},
		{"for", "720h", ""},
		{"recoverFor", "720h", ""},
	}
	for i, tc := range cases {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			g := NewWithT(t)
			name := "dur-" + string(rune('a'+i))
			raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(moment(ns, name, "j", "order", objective("accuracy", "s", "stock", "99.5")))
			g.Expect(err).NotTo(HaveOccurred())
			u := &unstructured.Unstructured{Object: raw}
			u.SetGroupVersionKind(cxv1.GroupVersion.WithKind("Moment"))
			objs, _, _ := unstructured.NestedSlice(u.Object, "spec", "objectives")
			objs[0].(map[string]any)[tc.field] = tc.value
			g.Expect(unstructured.SetNestedSlice(u.Object, objs, "spec", "objectives")).To(Succeed())

			err = k8sClient.Create(context.Background(), u)
			if tc.wantErr != "" {
				g.Expect(err).To(HaveOccurred())
				g.Expect(err.Error()).To(ContainSubstring(tc.wantErr))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(u), &cxv1.Moment{})).To(Succeed(), "a stored Moment decodes")
		})
	}
}
