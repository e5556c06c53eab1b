// Package v1alpha1 contains the cxops API: customer journeys, the moments that matter
// in them, the signal sources behind their objectives, the roadmap streams that
// improve them and the remediation tasks opened when the experience drifts.
//
// It depends on k8s.io/apimachinery only, so that other projects can import it.
//
// +kubebuilder:object:generate=true
// +groupName=cx.cxops.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the cxops API.
	GroupVersion = schema.GroupVersion{Group: "cx.cxops.io", Version: "v1alpha1"}

	// SchemeBuilder adds the cxops types to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the cxops types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme

	// knownTypes are the kinds and lists each types file registers.
	knownTypes []runtime.Object
)

// register records API types for addKnownTypes (called from each file's init).
func register(objs ...runtime.Object) { knownTypes = append(knownTypes, objs...) }

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
