package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Polarity says whether a moment wins or loses customers.
// +kubebuilder:validation:Enum=Gain;Pain
type Polarity string

// Polarities.
const (
	// PolarityGain: expectations are met or exceeded here.
	PolarityGain Polarity = "Gain"
	// PolarityPain: expectations are at risk of not being met here.
	PolarityPain Polarity = "Pain"
)

// Impact is the economic importance of a moment.
type Impact struct {
	// weight ranks the moment's gaps against other moments' (1-100). Defaults to 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight,omitempty"`

	// description of what is at stake, such as "a missed delivery stops a
	// customer's maintenance crew".
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:MinLength=1
	Description string `json:"description,omitempty"`
}

// Remediation says who owns the fix when the moment drifts.
type Remediation struct {
	// team that owns remediation tasks of this moment. Defaults to spec.owner. It
	// becomes the cx.cxops.io/team label of the tasks, so it must be a valid label
	// value: at most 63 letters, digits, '-', '_' and '.', starting and ending with a
	// letter or digit, such as ops-night-shift.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == '' || self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')",message="team must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (it becomes a label value), such as ops-night-shift"
	// +kubebuilder:validation:MinLength=1
	Team string `json:"team,omitempty"`

	// streamRef names the RoadmapStream tasks are routed to.
	// +optional
	StreamRef LocalObjectReference `json:"streamRef,omitzero"`

	// severity of the tasks when they open. Defaults to High for a key objective and
	// Medium otherwise.
	// +optional
	Severity Severity `json:"severity,omitempty"`

	// autoResolve resolves a task when its objective recovers. Defaults to true.
	// +optional
	AutoResolve *bool `json:"autoResolve,omitempty"`

	// escalateAfter raises the severity of a task nobody acknowledged in time:
	// more than 0s and at most 720h (30 days). Unset means no escalation.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.size() <= 32 && self.matches('^([0-9]{1,5}(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s') && duration(self) <= duration('720h')",message="escalateAfter must be a positive duration of at most 720h (30 days), such as 30m or 4h (numbers of at most 5 digits, units ns, us, ms, s, m, h)"
	EscalateAfter *Duration `json:"escalateAfter,omitempty"`

	// sinks are notified when a task opens, escalates and resolves.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	Sinks []WebhookSink `json:"sinks,omitempty"`
}

// MomentSpec is a moment that matters in a journey.
type MomentSpec struct {
	// journeyRef names the Journey in the same namespace.
	// +required
	JourneyRef LocalObjectReference `json:"journeyRef,omitzero"`

	// stage of the journey this moment belongs to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Stage string `json:"stage,omitempty"`

	// process names the backstage process of the stage's blueprint that this
	// moment measures; the moment's objectives are that process's control points.
	// Like stage, it must exist in the journey: a missing process is reported in
	// the moment's conditions (Stalled after the reference grace).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Process string `json:"process,omitempty"`

	// polarity is Gain or Pain.
	// +required
	Polarity Polarity `json:"polarity,omitempty"`

	// description of the moment, for people.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:MinLength=1
	Description string `json:"description,omitempty"`

	// touchpoint where the moment happens, such as "order confirmation".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:MinLength=1
	Touchpoint string `json:"touchpoint,omitempty"`

	// channel of the touchpoint.
	// +optional
	Channel Channel `json:"channel,omitempty"`

	// owner is the team or department responsible for the moment (marketing,
	// sales, service, logistics, accounting, ...). It becomes the cx.cxops.io/team
	// label of the moment's remediation tasks when remediation.team is not set, so
	// it must be a valid label value: at most 63 letters, digits, '-', '_' and '.',
	// starting and ending with a letter or digit, such as customer-service.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')",message="owner must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (it becomes a label value), such as customer-service"
	Owner string `json:"owner,omitempty"`

	// impact is the economic importance of the moment.
	// +optional
	Impact *Impact `json:"impact,omitempty"`

	// objectives that say whether the moment goes well.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Objectives []Objective `json:"objectives,omitempty"`

	// remediation says who owns the fix when an objective drifts.
	// +optional
	Remediation *Remediation `json:"remediation,omitempty"`

	// suspend stops cxops from evaluating this object and acting on it (no
	// evaluation, no new remediation tasks) until it is set to false again; the
	// status says so with the condition Suspended=True.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`
}

// MomentStatus is the observed state of a moment.
// +kubebuilder:validation:MinProperties=1
type MomentStatus struct {
	// conditions are Ready, Healthy, Reconciling and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the status reflects.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// health summarizes the objectives.
	// +optional
	Health HealthState `json:"health,omitempty"`

	// drifting names the first drifting objective, if any.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:MinLength=1
	Drifting string `json:"drifting,omitempty"`

	// objectives is the state of each objective.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Objectives []ObjectiveStatus `json:"objectives,omitempty"`

	// lastHeartbeatTime is when the values were last written (on a transition, a
	// spec change or a heartbeat).
	// +optional
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty"`

	// lastHandledReconcileAt is the value of the cx.cxops.io/requestedAt
	// annotation last handled: set the annotation (for example to the current
	// time) to ask for an immediate reconcile and evaluation.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:MinLength=1
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// Moment is a moment that matters: an interaction in a journey where customers are
// won (Gain) or lost (Pain), with the objectives that say whether it goes well.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mtm,categories=cx
// +kubebuilder:printcolumn:name="Journey",type=string,JSONPath=`.spec.journeyRef.name`
// +kubebuilder:printcolumn:name="Stage",type=string,JSONPath=`.spec.stage`
// +kubebuilder:printcolumn:name="Polarity",type=string,JSONPath=`.spec.polarity`
// +kubebuilder:printcolumn:name="Health",type=string,JSONPath=`.status.health`
// +kubebuilder:printcolumn:name="Drifting",type=string,JSONPath=`.status.drifting`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=`.spec.owner`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Healthy")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Moment struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the moment and its objectives.
	// +required
	Spec MomentSpec `json:"spec,omitzero"`

	// status is the observed state.
	// +optional
	Status MomentStatus `json:"status,omitzero"`
}

// MomentList is a list of Moments.
// +kubebuilder:object:root=true
type MomentList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Moment `json:"items"`
}

func init() {
	register(&Moment{}, &MomentList{})
}
