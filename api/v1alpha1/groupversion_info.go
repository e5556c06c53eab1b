// Package v1alpha1 contains the cxops API: customer journeys, the moments that matter
// in them, the signal sources behind their objectives, the roadmap streams that
// improve them and the remediation tasks opened when the experience drifts.
//
// +kubebuilder:object:generate=true
// +groupName=cx.cxops.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the cxops API.
	GroupVersion = schema.GroupVersion{Group: "cx.cxops.io", Version: "v1alpha1"}

	// SchemeBuilder adds the cxops types to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the cxops types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
