package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Segment of a persona.
// +kubebuilder:validation:Enum=B2B;B2C
type Segment string

// Segments.
const (
	SegmentB2B Segment = "B2B"
	SegmentB2C Segment = "B2C"
)

// Phase of the purchase a stage belongs to.
// +kubebuilder:validation:Enum=BeforePurchase;Purchase;AfterPurchase
type Phase string

// Phases.
const (
	PhaseBeforePurchase Phase = "BeforePurchase"
	PhasePurchase       Phase = "Purchase"
	PhaseAfterPurchase  Phase = "AfterPurchase"
)

// Persona is the buyer the journey is drawn for.
type Persona struct {
	// name of the persona, such as "Maintenance technician".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name,omitempty"`

	// segment is B2B or B2C.
	// +optional
	Segment Segment `json:"segment,omitempty"`

	// goals of the persona.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=256
	Goals []string `json:"goals,omitempty"`

	// frustrations of the persona.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=256
	Frustrations []string `json:"frustrations,omitempty"`
}

// Stage is one step of the journey.
type Stage struct {
	// name of the stage, unique in the journey; moments refer to it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="stage name must be lowercase letters, digits and '-', starting and ending with a letter or digit"
	Name string `json:"name,omitempty"`

	// displayName for people.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:MinLength=1
	DisplayName string `json:"displayName,omitempty"`

	// phase of the purchase this stage belongs to.
	// +required
	Phase Phase `json:"phase,omitempty"`

	// touchpoints where the customer meets the company in this stage.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=128
	Touchpoints []string `json:"touchpoints,omitempty"`

	// channels used in this stage.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=15
	Channels []Channel `json:"channels,omitempty"`

	// blueprint is the service blueprint under the stage: customer actions,
	// frontstage actions, backstage processes with their SIPOC, and support
	// systems. Moments name a backstage process in spec.process.
	// +optional
	Blueprint StageBlueprint `json:"blueprint,omitzero"`
}

// JourneySpec is the target (to-be) journey for one persona.
type JourneySpec struct {
	// persona the journey is drawn for.
	// +required
	Persona Persona `json:"persona,omitzero"`

	// description of the journey.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:MinLength=1
	Description string `json:"description,omitempty"`

	// vision is the to-be statement the journey works toward, such as "a
	// technician orders the right part in five minutes and it arrives when promised".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Vision string `json:"vision,omitempty"`

	// stages in the order the persona usually meets them. Journeys need not be
	// linear; the order is for display.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(s, self.exists_one(t, t.name == s.name))",message="stage names must be unique within a journey"
	Stages []Stage `json:"stages,omitempty"`

	// objectives at journey level (NPS, conversion), evaluated like a moment's.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Objectives []Objective `json:"objectives,omitempty"`

	// minCoverage is the share of the journey's objective weight, in percent, that
	// must have data for the journey's health to be known. Below it the journey is
	// Healthy=Unknown (reason NoData), whatever the objectives with data say. A key
	// objective without data makes the health Unknown whatever the coverage.
	// Defaults to 80.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MinCoverage *int32 `json:"minCoverage,omitempty"`

	// suspend stops cxops from evaluating this object and acting on it (no
	// evaluation, no new remediation tasks) until it is set to false again; the
	// status says so with the condition Suspended=True.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`
}

// StageStatus is the measured health of one stage.
type StageStatus struct {
	// name of the stage.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`

	// health of the stage: the worst health of its moments.
	// +required
	Health HealthState `json:"health,omitempty"`

	// moments counts the stage's moments by health.
	// +optional
	Moments MomentCounts `json:"moments,omitzero"`

	// processes is the health of the stage's backstage processes, in the order of
	// the blueprint.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Processes []ProcessStatus `json:"processes,omitempty"`
}

// MomentCounts counts moments by health. cxops writes every count, 0 included,
// so that a count of 0 is shown as 0.
// +kubebuilder:validation:MinProperties=1
type MomentCounts struct {
	// total is the number of moments.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Total *int32 `json:"total,omitempty"`

	// healthy is the number of Healthy moments.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Healthy *int32 `json:"healthy,omitempty"`

	// atRisk is the number of AtRisk moments.
	// +optional
	// +kubebuilder:validation:Minimum=0
	AtRisk *int32 `json:"atRisk,omitempty"`

	// degraded is the number of Degraded moments.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Degraded *int32 `json:"degraded,omitempty"`

	// unknown is the number of moments whose health is Unknown.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Unknown *int32 `json:"unknown,omitempty"`
}

// Gap is the distance between an objective's target and its observed value.
type Gap struct {
	// moment the objective belongs to (empty for a journey-level objective).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Moment string `json:"moment,omitempty"`

	// stage of the moment.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Stage string `json:"stage,omitempty"`

	// objective that misses its target.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Objective string `json:"objective,omitempty"`

	// state of the objective.
	// +required
	State ObjectiveState `json:"state,omitempty"`

	// value observed.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Value string `json:"value,omitempty"`

	// target as a person reads it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Target string `json:"target,omitempty"`

	// score ranks the gap: moment weight × normalized gap, as a decimal string.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=320
	Score string `json:"score,omitempty"`
}

// JourneyStatus is the measured (as-is) journey and its gap to the target.
// +kubebuilder:validation:MinProperties=1
type JourneyStatus struct {
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

	// score from 0 to 100: the weighted share of objectives met.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Score *int32 `json:"score,omitempty"`

	// health of the journey.
	// +optional
	Health HealthState `json:"health,omitempty"`

	// coverage is the share of the journey's objective weight (its moments' and
	// its own objectives') that has data, in percent. Unknown objectives count
	// against it.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Coverage *int32 `json:"coverage,omitempty"`

	// moments counts the journey's moments by health.
	// +optional
	Moments MomentCounts `json:"moments,omitzero"`

	// driftingMoments counts moments with a drifting objective.
	// +optional
	DriftingMoments *int32 `json:"driftingMoments,omitempty"`

	// stages is the health of each stage, in spec order.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Stages []StageStatus `json:"stages,omitempty"`

	// topGaps are the largest gaps, largest first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=5
	TopGaps []Gap `json:"topGaps,omitempty"`

	// openRemediations counts open remediation tasks of the journey's moments.
	// +optional
	OpenRemediations *int32 `json:"openRemediations,omitempty"`

	// objectives is the state of the journey-level objectives.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Objectives []ObjectiveStatus `json:"objectives,omitempty"`

	// lastHandledReconcileAt is the value of the cx.cxops.io/requestedAt
	// annotation last handled: set the annotation (for example to the current
	// time) to ask for an immediate reconcile and evaluation.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:MinLength=1
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// Journey is the target (to-be) journey of one persona: its stages and journey-level
// objectives. Its status is the measured (as-is) journey.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=jrn,categories=cx
// +kubebuilder:printcolumn:name="Persona",type=string,JSONPath=`.spec.persona.name`
// +kubebuilder:printcolumn:name="Score",type=integer,JSONPath=`.status.score`
// +kubebuilder:printcolumn:name="Coverage",type=integer,JSONPath=`.status.coverage`
// +kubebuilder:printcolumn:name="Health",type=string,JSONPath=`.status.health`
// +kubebuilder:printcolumn:name="Drifting",type=integer,JSONPath=`.status.driftingMoments`
// +kubebuilder:printcolumn:name="Open-Tasks",type=integer,JSONPath=`.status.openRemediations`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Healthy")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Journey struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the target journey.
	// +required
	Spec JourneySpec `json:"spec,omitzero"`

	// status is the measured journey.
	// +optional
	Status JourneyStatus `json:"status,omitzero"`
}

// JourneyList is a list of Journeys.
// +kubebuilder:object:root=true
type JourneyList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Journey `json:"items"`
}

func init() {
	register(&Journey{}, &JourneyList{})
}
