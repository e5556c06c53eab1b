package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StreamCategory is one of the four improvement streams.
// +kubebuilder:validation:Enum=SystemsData;ChangeTraining;OrganizationProcess;CustomerCentricity
type StreamCategory string

// Stream categories.
const (
	StreamSystemsData         StreamCategory = "SystemsData"
	StreamChangeTraining      StreamCategory = "ChangeTraining"
	StreamOrganizationProcess StreamCategory = "OrganizationProcess"
	StreamCustomerCentricity  StreamCategory = "CustomerCentricity"
)

// InitiativeState is where an initiative stands.
// +kubebuilder:validation:Enum=Planned;InProgress;Done;Blocked
type InitiativeState string

// Initiative states.
const (
	InitiativePlanned    InitiativeState = "Planned"
	InitiativeInProgress InitiativeState = "InProgress"
	InitiativeDone       InitiativeState = "Done"
	InitiativeBlocked    InitiativeState = "Blocked"
)

// Priority of an initiative.
// +kubebuilder:validation:Enum=Critical;High;Medium;Low
type Priority string

// Priorities.
const (
	PriorityCritical Priority = "Critical"
	PriorityHigh     Priority = "High"
	PriorityMedium   Priority = "Medium"
	PriorityLow      Priority = "Low"
)

// ObjectiveReference names a moment and, optionally, one of its objectives, in the
// same namespace.
type ObjectiveReference struct {
	// moment name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Moment string `json:"moment,omitempty"`

	// objective of the moment; all of its objectives when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:MinLength=1
	Objective string `json:"objective,omitempty"`
}

// Initiative is one measure on the roadmap.
type Initiative struct {
	// name of the initiative, unique in the stream.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="initiative name must be lowercase letters, digits and '-'"
	Name string `json:"name,omitempty"`

	// description of the measure.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:MinLength=1
	Description string `json:"description,omitempty"`

	// priority of the initiative. Defaults to Medium.
	// +optional
	// +kubebuilder:default=Medium
	Priority Priority `json:"priority,omitempty"`

	// state of the initiative.
	// +required
	State InitiativeState `json:"state,omitempty"`

	// dueDate is the date the initiative is due, such as 2026-12-31: a real
	// calendar date written YYYY-MM-DD (2026-02-31 is refused). The initiative is
	// overdue from the next day on, UTC.
	// +optional
	// +kubebuilder:validation:MaxLength=10
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$') && !format.date().validate(self).hasValue()",message="dueDate must be a real calendar date written YYYY-MM-DD, such as 2026-12-31 (2026-02-31 and 2027-02-29 do not exist)"
	// +kubebuilder:validation:MinLength=1
	DueDate string `json:"dueDate,omitempty"`

	// owner of the initiative.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:MinLength=1
	Owner string `json:"owner,omitempty"`

	// progress in percent, as the owner reports it. Done counts as 100.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Progress *int32 `json:"progress,omitempty"`

	// addresses lists the moments and objectives this initiative improves.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Addresses []ObjectiveReference `json:"addresses,omitempty"`
}

// RoadmapStreamSpec is one of the four improvement streams and its initiatives.
type RoadmapStreamSpec struct {
	// category of the stream.
	// +required
	Category StreamCategory `json:"category,omitempty"`

	// owner of the stream.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Owner string `json:"owner,omitempty"`

	// vision of the stream, for people.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:MinLength=1
	Vision string `json:"vision,omitempty"`

	// initiatives of the stream.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Initiatives []Initiative `json:"initiatives,omitempty"`

	// sinks are notified when a task routed to this stream opens, escalates and
	// resolves.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	Sinks []WebhookSink `json:"sinks,omitempty"`

	// suspend stops cxops from evaluating this object and acting on it (no
	// evaluation, no new remediation tasks) until it is set to false again; the
	// status says so with the condition Suspended=True.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`
}

// InitiativeStatus is the measured state of one initiative.
type InitiativeStatus struct {
	// name of the initiative.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`

	// objectivesAddressed counts the objectives the initiative addresses.
	// +optional
	ObjectivesAddressed *int32 `json:"objectivesAddressed,omitempty"`

	// objectivesAttained counts those that are met.
	// +optional
	ObjectivesAttained *int32 `json:"objectivesAttained,omitempty"`

	// atRisk is true when the initiative is not Done and an objective it addresses
	// still misses its target while the initiative is blocked, overdue, or due within
	// 14 days.
	// +optional
	AtRisk *bool `json:"atRisk,omitempty"`

	// message explains the risk.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:MinLength=1
	Message string `json:"message,omitempty"`
}

// RoadmapStreamStatus is the measured state of a stream.
// +kubebuilder:validation:MinProperties=1
type RoadmapStreamStatus struct {
	// conditions are OnTrack and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the status reflects.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// progress in percent over all initiatives.
	// +optional
	Progress *int32 `json:"progress,omitempty"`

	// objectivesAddressed counts the objectives the initiatives address.
	// +optional
	ObjectivesAddressed *int32 `json:"objectivesAddressed,omitempty"`

	// objectivesAttained counts those that are met.
	// +optional
	ObjectivesAttained *int32 `json:"objectivesAttained,omitempty"`

	// atRisk counts initiatives at risk.
	// +optional
	AtRisk *int32 `json:"atRisk,omitempty"`

	// initiatives is the state of each initiative.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Initiatives []InitiativeStatus `json:"initiatives,omitempty"`

	// openRemediations counts open remediation tasks routed to the stream.
	// +optional
	OpenRemediations *int32 `json:"openRemediations,omitempty"`

	// lastHandledReconcileAt is the value of the cx.cxops.io/requestedAt
	// annotation last handled: set the annotation (for example to the current
	// time) to ask for an immediate reconcile and evaluation.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:MinLength=1
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// RoadmapStream is one of the four improvement streams (systems and data, change and
// training, organization and processes, customer centricity) with its initiatives.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rms,categories=cx
// +kubebuilder:printcolumn:name="Category",type=string,JSONPath=`.spec.category`
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=`.spec.owner`
// +kubebuilder:printcolumn:name="Progress",type=integer,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="At-Risk",type=integer,JSONPath=`.status.atRisk`
// +kubebuilder:printcolumn:name="Open-Tasks",type=integer,JSONPath=`.status.openRemediations`
// +kubebuilder:printcolumn:name="On-Track",type=string,JSONPath=`.status.conditions[?(@.type=="OnTrack")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RoadmapStream struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the stream and its initiatives.
	// +required
	Spec RoadmapStreamSpec `json:"spec,omitzero"`

	// status is the measured state.
	// +optional
	Status RoadmapStreamStatus `json:"status,omitzero"`
}

// RoadmapStreamList is a list of RoadmapStreams.
// +kubebuilder:object:root=true
type RoadmapStreamList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RoadmapStream `json:"items"`
}

func init() {
	register(&RoadmapStream{}, &RoadmapStreamList{})
}
