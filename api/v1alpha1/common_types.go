package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LocalObjectReference names an object in the same namespace. There is deliberately
// no namespace field: cxops never follows references across namespaces.
type LocalObjectReference struct {
	// name of the object in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be the name of an object in the same namespace: lowercase letters, digits, '-' and '.'"
	Name string `json:"name,omitempty"`
}

// Channel is a channel through which a customer meets the company.
// +kubebuilder:validation:Enum=Web;MobileApp;Chat;WhatsApp;SMS;Social;Phone;Video;Email;Store;Kiosk;FieldService;Marketplace;Partner;Other
type Channel string

// Channels.
const (
	// ChannelWeb: a web site or web shop.
	ChannelWeb Channel = "Web"
	// ChannelMobileApp: the company's own mobile app.
	ChannelMobileApp Channel = "MobileApp"
	// ChannelChat: live chat or a chatbot.
	ChannelChat Channel = "Chat"
	// ChannelWhatsApp: WhatsApp and similar messengers.
	ChannelWhatsApp Channel = "WhatsApp"
	// ChannelSMS: text messages.
	ChannelSMS Channel = "SMS"
	// ChannelSocial: social networks.
	ChannelSocial Channel = "Social"
	// ChannelPhone: calls, a call center or an IVR.
	ChannelPhone Channel = "Phone"
	// ChannelVideo: video calls and video consultation.
	ChannelVideo Channel = "Video"
	// ChannelEmail: email.
	ChannelEmail Channel = "Email"
	// ChannelStore: a physical store, branch or counter.
	ChannelStore Channel = "Store"
	// ChannelKiosk: a self-service terminal or kiosk.
	ChannelKiosk Channel = "Kiosk"
	// ChannelFieldService: technicians or sales staff at the customer's site.
	ChannelFieldService Channel = "FieldService"
	// ChannelMarketplace: a third-party marketplace (Amazon, eBay, a B2B portal).
	ChannelMarketplace Channel = "Marketplace"
	// ChannelPartner: a reseller, distributor or other partner acting for the company.
	ChannelPartner Channel = "Partner"
	// ChannelOther: anything else.
	ChannelOther Channel = "Other"
)

// HealthState summarizes a moment, a stage or a journey.
// +kubebuilder:validation:Enum=Healthy;AtRisk;Degraded;Unknown
type HealthState string

// Health states, from best to worst; Unknown means data is missing.
const (
	HealthHealthy  HealthState = "Healthy"
	HealthAtRisk   HealthState = "AtRisk"
	HealthDegraded HealthState = "Degraded"
	HealthUnknown  HealthState = "Unknown"
)

// KPIType is the kind of indicator an objective measures.
// +kubebuilder:validation:Enum=NPS;CSAT;CES;ConversionRate;ResponseTime;ResolutionTime;OnTimeDelivery;StockAccuracy;OrderAccuracy;ChurnRate;Custom
type KPIType string

// KPI types.
const (
	KPINPS            KPIType = "NPS"
	KPICSAT           KPIType = "CSAT"
	KPICES            KPIType = "CES"
	KPIConversionRate KPIType = "ConversionRate"
	KPIResponseTime   KPIType = "ResponseTime"
	KPIResolutionTime KPIType = "ResolutionTime"
	KPIOnTimeDelivery KPIType = "OnTimeDelivery"
	KPIStockAccuracy  KPIType = "StockAccuracy"
	KPIOrderAccuracy  KPIType = "OrderAccuracy"
	KPIChurnRate      KPIType = "ChurnRate"
	KPICustom         KPIType = "Custom"
)

// Direction says which way a KPI improves.
// +kubebuilder:validation:Enum=HigherIsBetter;LowerIsBetter
type Direction string

// Directions.
const (
	HigherIsBetter Direction = "HigherIsBetter"
	LowerIsBetter  Direction = "LowerIsBetter"
)

// KPI describes the indicator an objective measures.
type KPI struct {
	// type of the indicator.
	// +required
	Type KPIType `json:"type,omitempty"`

	// unit the values are expressed in, for people reading them (%, s, points).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:MinLength=1
	Unit string `json:"unit,omitempty"`

	// direction in which the indicator improves. It must agree with the target's
	// operator: HigherIsBetter with >= or >, LowerIsBetter with <= or <.
	// +required
	Direction Direction `json:"direction,omitempty"`
}

// Signal says where an objective's value comes from.
type Signal struct {
	// sourceRef names the SignalSource in the same namespace.
	// +required
	SourceRef LocalObjectReference `json:"sourceRef,omitzero"`

	// query selects one number from the source: a PromQL expression for a
	// prometheus source, a JSONPath expression for an http source, or the name of a
	// value for a static source. It is a template that may use only {{ .Name }},
	// {{ .Namespace }}, {{ index .Labels "key" }} (the moment's) and {{ .Objective }};
	// range, if, printf and every other Go template construct are refused. The
	// rendered query is at most 8 KiB.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Query string `json:"query,omitempty"`
}

// Operator compares a value with a target.
// +kubebuilder:validation:Enum=">=";">";"<=";"<";"==";InRange
type Operator string

// Operators.
const (
	OpGreaterOrEqual Operator = ">="
	OpGreater        Operator = ">"
	OpLessOrEqual    Operator = "<="
	OpLess           Operator = "<"
	OpEqual          Operator = "=="
	OpInRange        Operator = "InRange"
)

// Target is what an objective must reach. Numbers are decimal strings ("99.5", "-10")
// so that no precision is lost and negative values (NPS) are natural.
// +kubebuilder:validation:XValidation:rule="self.operator == 'InRange' ? (has(self.min) && has(self.max) && !has(self.value)) : (has(self.value) && !has(self.min) && !has(self.max))",message="operator InRange needs min and max (and no value); the other operators need value (and no min or max)"
// +kubebuilder:validation:XValidation:rule="!(has(self.min) && has(self.max)) || double(self.min) < double(self.max)",message="min must be less than max"
// +kubebuilder:validation:XValidation:rule="!has(self.warning) || self.operator in ['>=', '>', '<=', '<']",message="warning is only supported with the operators >=, >, <= and <"
// +kubebuilder:validation:XValidation:rule="!has(self.warning) || !has(self.value) || !(self.operator in ['>=', '>']) || double(self.warning) > double(self.value)",message="with operator >= or > the warning bound must be above the target value (the safe side)"
// +kubebuilder:validation:XValidation:rule="!has(self.warning) || !has(self.value) || !(self.operator in ['<=', '<']) || double(self.warning) < double(self.value)",message="with operator <= or < the warning bound must be below the target value (the safe side)"
type Target struct {
	// operator compares the observed value with the target.
	// +required
	Operator Operator `json:"operator,omitempty"`

	// value is the target for every operator but InRange.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?[0-9]+(\\\\.[0-9]+)?$')",message="value must be a decimal number such as 99.5 or -10"
	Value *string `json:"value,omitempty"`

	// min is the lower bound (inclusive) for InRange.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?[0-9]+(\\\\.[0-9]+)?$')",message="min must be a decimal number such as 0.5 or -10"
	Min *string `json:"min,omitempty"`

	// max is the upper bound (inclusive) for InRange.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?[0-9]+(\\\\.[0-9]+)?$')",message="max must be a decimal number such as 99.5 or 10"
	Max *string `json:"max,omitempty"`

	// warning is a bound on the safe side of the target: a value between the
	// target and the warning bound is Warning (at risk, not yet breached).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?[0-9]+(\\\\.[0-9]+)?$')",message="warning must be a decimal number such as 99.7 or -5"
	Warning *string `json:"warning,omitempty"`
}

// NoDataPolicy says what missing data or a failed fetch means for an objective.
// +kubebuilder:validation:Enum=Unknown;Breached
type NoDataPolicy string

// No-data policies. There is deliberately no policy that treats missing data as met.
const (
	NoDataUnknown  NoDataPolicy = "Unknown"
	NoDataBreached NoDataPolicy = "Breached"
)

// Objective is one measurable expectation: a KPI, where its value comes from, and
// the target it must reach.
// +kubebuilder:validation:XValidation:rule="!(self.target.operator in ['>=', '>']) || self.kpi.direction == 'HigherIsBetter'",message="a target with operator >= or > needs kpi.direction HigherIsBetter"
// +kubebuilder:validation:XValidation:rule="!(self.target.operator in ['<=', '<']) || self.kpi.direction == 'LowerIsBetter'",message="a target with operator <= or < needs kpi.direction LowerIsBetter"
type Objective struct {
	// name of the objective, unique within its moment or journey.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="objective name must be lowercase letters, digits and '-', starting and ending with a letter or digit"
	Name string `json:"name,omitempty"`

	// description of the expectation, for people.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:MinLength=1
	Description string `json:"description,omitempty"`

	// kpi describes the indicator.
	// +required
	KPI KPI `json:"kpi,omitzero"`

	// signal says where the value comes from.
	// +required
	Signal Signal `json:"signal,omitzero"`

	// target is what the value must reach.
	// +required
	Target Target `json:"target,omitzero"`

	// interval between evaluations: from 10s to 24h, and never shorter than the
	// source's minInterval. Defaults to 1m. A longer interval would keep a state
	// for a day or more without fresh data.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.size() <= 32 && self.matches('^([0-9]{1,5}(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="interval must be a duration from 10s to 24h, such as 30s, 5m or 1h (numbers of at most 5 digits, units ns, us, ms, s, m, h)"
	Interval *Duration `json:"interval,omitempty"`

	// for is how long a breach must last before the objective is drifting (and a
	// remediation task opens): from 0s (at the first breach) to 720h (30 days).
	// Defaults to 0s.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.size() <= 32 && self.matches('^([0-9]{1,5}(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) <= duration('720h')",message="for must be a duration from 0s to 720h (30 days), such as 0s, 10m or 4h (numbers of at most 5 digits, units ns, us, ms, s, m, h)"
	For *Duration `json:"for,omitempty"`

	// recoverFor is how long the target must be met again before a drifting
	// objective has recovered: from 0s to 720h (30 days). Defaults to 0s.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.size() <= 32 && self.matches('^([0-9]{1,5}(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) <= duration('720h')",message="recoverFor must be a duration from 0s to 720h (30 days), such as 0s, 10m or 4h (numbers of at most 5 digits, units ns, us, ms, s, m, h)"
	RecoverFor *Duration `json:"recoverFor,omitempty"`

	// noData says what missing data or a failed fetch means: Unknown (the default)
	// or Breached. Missing data is never treated as met.
	// +optional
	// +kubebuilder:default=Unknown
	NoData NoDataPolicy `json:"noData,omitempty"`

	// weight of the objective within its moment or journey, for the score.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight,omitempty"`

	// key marks an objective whose breach degrades the whole journey, whatever its
	// score.
	// +optional
	Key *bool `json:"key,omitempty"`
}

// ObjectiveState is the evaluated state of an objective.
// +kubebuilder:validation:Enum=Met;Warning;Breached;Drifting;Unknown
type ObjectiveState string

// Objective states.
const (
	// StateMet: the value reaches the target (and the warning bound, if any).
	StateMet ObjectiveState = "Met"
	// StateWarning: the value reaches the target but not the warning bound.
	StateWarning ObjectiveState = "Warning"
	// StateBreached: the value misses the target, for less than `for`.
	StateBreached ObjectiveState = "Breached"
	// StateDrifting: the value has missed the target for at least `for` and has not
	// yet been met again for `recoverFor`.
	StateDrifting ObjectiveState = "Drifting"
	// StateUnknown: no value could be obtained (or not yet).
	StateUnknown ObjectiveState = "Unknown"
)

// ObjectiveStatus is the observed state of one objective. The timestamps are what
// the evaluation keeps across restarts: a new leader continues from them.
type ObjectiveStatus struct {
	// name of the objective.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`

	// state of the objective.
	// +required
	State ObjectiveState `json:"state,omitempty"`

	// since is when the objective entered its current state.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`

	// value is the last observed value, refreshed on transitions and heartbeats.
	// Live values are Prometheus metrics (cxops_objective_value).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Value *string `json:"value,omitempty"`

	// target as a person reads it, such as ">= 99.5" or "in [1, 5]".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:MinLength=1
	Target string `json:"target,omitempty"`

	// breachingSince is when the current breach episode began.
	// +optional
	BreachingSince *metav1.Time `json:"breachingSince,omitempty"`

	// driftingSince is when the objective started drifting in this episode.
	// +optional
	DriftingSince *metav1.Time `json:"driftingSince,omitempty"`

	// metSince is when a drifting objective was first met again (recovery clock).
	// +optional
	MetSince *metav1.Time `json:"metSince,omitempty"`

	// lastEvaluated is the time of the evaluation this status reflects.
	// +optional
	LastEvaluated *metav1.Time `json:"lastEvaluated,omitempty"`

	// message explains the state, for example why there is no data.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:MinLength=1
	Message string `json:"message,omitempty"`

	// taskRef names the open RemediationTask of the current episode.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:MinLength=1
	TaskRef string `json:"taskRef,omitempty"`
}

// Severity of a remediation task.
// +kubebuilder:validation:Enum=Low;Medium;High;Critical
type Severity string

// Severities, from least to most severe.
const (
	SeverityLow      Severity = "Low"
	SeverityMedium   Severity = "Medium"
	SeverityHigh     Severity = "High"
	SeverityCritical Severity = "Critical"
)

// WebhookSink sends a JSON notification to a URL.
type WebhookSink struct {
	// name of the sink, used in delivery records and idempotency keys.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="sink name must be lowercase letters, digits and '-'"
	Name string `json:"name,omitempty"`

	// url receiving a POST with a JSON body.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="url must be an absolute http or https URL"
	// +kubebuilder:validation:MinLength=1
	URL string `json:"url,omitempty"`

	// headersSecretRef names a Secret in the same namespace whose keys and values
	// are sent as HTTP headers (for example Authorization).
	// +optional
	HeadersSecretRef LocalObjectReference `json:"headersSecretRef,omitzero"`
}
