package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConditionsAccessor is what every cxops kind offers: its status conditions, so
// that one code path can summarize and patch them.
// +kubebuilder:object:generate=false
type ConditionsAccessor interface {
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// GetConditions returns the status conditions.
func (in *SignalSource) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *SignalSource) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetConditions returns the status conditions.
func (in *Journey) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *Journey) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetConditions returns the status conditions.
func (in *Moment) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *Moment) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetConditions returns the status conditions.
func (in *RoadmapStream) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *RoadmapStream) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetConditions returns the status conditions.
func (in *RemediationTask) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *RemediationTask) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }
