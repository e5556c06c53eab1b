package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TaskPhase is where a remediation task stands.
// +kubebuilder:validation:Enum=Open;Acknowledged;Resolved
type TaskPhase string

// Task phases.
const (
	TaskOpen         TaskPhase = "Open"
	TaskAcknowledged TaskPhase = "Acknowledged"
	TaskResolved     TaskPhase = "Resolved"
)

// Resolution says how a task was resolved.
// +kubebuilder:validation:Enum=AutoRecovered;Manual;ObjectiveRemoved
type Resolution string

// Resolutions.
const (
	// ResolutionAutoRecovered: the objective recovered and the task closed itself.
	ResolutionAutoRecovered Resolution = "AutoRecovered"
	// ResolutionManual: a person resolved the task (spec.resolved: true).
	ResolutionManual Resolution = "Manual"
	// ResolutionObjectiveRemoved: the objective is no longer in the moment's spec.
	ResolutionObjectiveRemoved Resolution = "ObjectiveRemoved"
)

// NotificationEvent is what a notification tells.
// +kubebuilder:validation:Enum=Opened;Escalated;Resolved
type NotificationEvent string

// Notification events.
const (
	NotifyOpened    NotificationEvent = "Opened"
	NotifyEscalated NotificationEvent = "Escalated"
	NotifyResolved  NotificationEvent = "Resolved"
)

// RemediationTaskSpec is what drifted, against what target, since when, and who owns
// the fix. The controller writes it when the task opens; a person sets acknowledged
// or resolved.
// +kubebuilder:validation:XValidation:rule="self.momentRef == oldSelf.momentRef && self.objective == oldSelf.objective",message="momentRef and objective cannot change: a task belongs to one drift episode"
type RemediationTaskSpec struct {
	// momentRef names the Moment that drifted.
	// +required
	MomentRef LocalObjectReference `json:"momentRef,omitzero"`

	// journeyRef names the Moment's Journey.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the task's record of its drift episode cannot change"
	JourneyRef LocalObjectReference `json:"journeyRef,omitzero"`

	// objective that drifted.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Objective string `json:"objective,omitempty"`

	// streamRef names the RoadmapStream the task is routed to.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the task's record of its drift episode cannot change"
	StreamRef LocalObjectReference `json:"streamRef,omitzero"`

	// team that owns the fix; also the task's cx.cxops.io/team label, so a valid
	// label value.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the task's record of its drift episode cannot change"
	// +kubebuilder:validation:XValidation:rule="self == '' || self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')",message="team must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (it becomes a label value), such as ops-night-shift"
	// +kubebuilder:validation:MinLength=1
	Team string `json:"team,omitempty"`

	// severity when the task opened.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the task's record of its drift episode cannot change"
	Severity Severity `json:"severity,omitempty"`

	// observed value when the task opened.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the task's record of its drift episode cannot change"
	// +kubebuilder:validation:MinLength=1
	Observed string `json:"observed,omitempty"`

	// target the value missed, as a person reads it.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the task's record of its drift episode cannot change"
	// +kubebuilder:validation:MinLength=1
	Target string `json:"target,omitempty"`

	// breachingSince is when the breach episode began.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the task's record of its drift episode cannot change"
	BreachingSince *metav1.Time `json:"breachingSince,omitempty"`

	// summary a person can read in kubectl get.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the task's record of its drift episode cannot change"
	// +kubebuilder:validation:MinLength=1
	Summary string `json:"summary,omitempty"`

	// acknowledged is set by a person who owns the fix; it stops escalation.
	// +optional
	Acknowledged *bool `json:"acknowledged,omitempty"`

	// resolved is set by a person to close the task by hand.
	// +optional
	Resolved *bool `json:"resolved,omitempty"`

	// sinks are the moment's webhooks when the task opened (URL and the name of
	// the headers Secret, never the Secret's values). The task notifies these
	// and the current sinks of its RoadmapStream, so that a deleted or edited
	// moment's sinks still hear how the task ends. Tasks opened by an older
	// cxops have none and notify the moment's current sinks.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="sinks cannot change: they are where the task's notifications go"
	Sinks []WebhookSink `json:"sinks,omitempty"`

	// abandonNotifications is set by a person to stop delivering this task's
	// notifications that were not delivered yet (for example to a sink that is
	// gone for good). Undelivered notifications are retried forever otherwise,
	// and keep the task from being deleted by retention.
	// +optional
	AbandonNotifications *bool `json:"abandonNotifications,omitempty"`
}

// Delivery records the notifications of one event to one sink.
type Delivery struct {
	// sink name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Sink string `json:"sink,omitempty"`

	// event notified.
	// +required
	Event NotificationEvent `json:"event,omitempty"`

	// escalation number this delivery announces (Escalated only).
	// +optional
	// +kubebuilder:validation:Minimum=1
	Escalation int32 `json:"escalation,omitempty"`

	// attempts made so far.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Attempts int32 `json:"attempts,omitempty"`

	// delivered is true once the sink accepted the notification.
	// +optional
	Delivered *bool `json:"delivered,omitempty"`

	// lastAttemptTime is when the last attempt was made.
	// +optional
	LastAttemptTime *metav1.Time `json:"lastAttemptTime,omitempty"`

	// lastError of the last failed attempt, without response bodies or secrets.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:MinLength=1
	LastError string `json:"lastError,omitempty"`
}

// RemediationTaskStatus is where the task stands.
// +kubebuilder:validation:MinProperties=1
type RemediationTaskStatus struct {
	// conditions are Delivered.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the status reflects.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is Open, Acknowledged or Resolved.
	// +optional
	Phase TaskPhase `json:"phase,omitempty"`

	// severity now; raised by escalation.
	// +optional
	Severity Severity `json:"severity,omitempty"`

	// openedTime is when the task opened.
	// +optional
	OpenedTime *metav1.Time `json:"openedTime,omitempty"`

	// acknowledgedTime is when a person acknowledged the task.
	// +optional
	AcknowledgedTime *metav1.Time `json:"acknowledgedTime,omitempty"`

	// escalatedTime is when the task was last escalated.
	// +optional
	EscalatedTime *metav1.Time `json:"escalatedTime,omitempty"`

	// escalations counts escalations.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Escalations *int32 `json:"escalations,omitempty"`

	// resolvedTime is when the task was resolved.
	// +optional
	ResolvedTime *metav1.Time `json:"resolvedTime,omitempty"`

	// resolution says how it was resolved.
	// +optional
	Resolution Resolution `json:"resolution,omitempty"`

	// deliveries of notifications, one per sink and event.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=24
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

// RemediationTask is the closed loop: opened by the controller when an objective
// drifts, owned by its Moment, resolved when the objective recovers.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rtask,categories=cx
// +kubebuilder:printcolumn:name="Moment",type=string,JSONPath=`.spec.momentRef.name`
// +kubebuilder:printcolumn:name="Objective",type=string,JSONPath=`.spec.objective`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Severity",type=string,JSONPath=`.status.severity`
// +kubebuilder:printcolumn:name="Team",type=string,JSONPath=`.spec.team`
// +kubebuilder:printcolumn:name="Summary",type=string,JSONPath=`.spec.summary`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RemediationTask struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what drifted and who owns the fix.
	// +required
	Spec RemediationTaskSpec `json:"spec,omitzero"`

	// status is where the task stands.
	// +optional
	Status RemediationTaskStatus `json:"status,omitzero"`
}

// RemediationTaskList is a list of RemediationTasks.
// +kubebuilder:object:root=true
type RemediationTaskList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RemediationTask `json:"items"`
}

func init() {
	register(&RemediationTask{}, &RemediationTaskList{})
}
