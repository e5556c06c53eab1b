package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AuthType is how a source authenticates.
// +kubebuilder:validation:Enum=Bearer;Basic
type AuthType string

// Authentication types.
const (
	// AuthBearer sends "Authorization: Bearer <token>" from the Secret key "token".
	AuthBearer AuthType = "Bearer"
	// AuthBasic sends basic auth from the Secret keys "username" and "password".
	AuthBasic AuthType = "Basic"
)

// Auth takes credentials from a Secret in the same namespace.
type Auth struct {
	// type of authentication.
	// +required
	Type AuthType `json:"type,omitempty"`

	// secretRef names the Secret holding the credentials: key "token" for Bearer,
	// keys "username" and "password" for Basic.
	// +required
	SecretRef LocalObjectReference `json:"secretRef,omitzero"`
}

// TLSConfig configures TLS to a source.
type TLSConfig struct {
	// caSecretRef names a Secret in the same namespace whose key "ca.crt" holds the
	// PEM certificate authorities to trust, in addition to the system ones.
	// +optional
	CASecretRef LocalObjectReference `json:"caSecretRef,omitzero"`

	// serverName overrides the name checked in the server certificate.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:MinLength=1
	ServerName string `json:"serverName,omitempty"`

	// insecureSkipVerify disables certificate verification. For tests only.
	// +optional
	InsecureSkipVerify *bool `json:"insecureSkipVerify,omitempty"`
}

// PrometheusSource runs instant PromQL queries against a Prometheus HTTP API.
type PrometheusSource struct {
	// address of the Prometheus server, such as http://prometheus.monitoring:9090.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="address must be an absolute http or https URL such as http://prometheus:9090"
	// +kubebuilder:validation:MinLength=1
	Address string `json:"address,omitempty"`

	// auth takes credentials from a Secret.
	// +optional
	Auth Auth `json:"auth,omitzero"`

	// tls configures TLS.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`

	// timeout of one query: more than 0s and at most 5m. Defaults to 10s.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.size() <= 32 && self.matches('^([0-9]{1,5}(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s') && duration(self) <= duration('5m')",message="timeout must be a positive duration of at most 5m, such as 10s (numbers of at most 5 digits, units ns, us, ms, s, m, h)"
	Timeout *Duration `json:"timeout,omitempty"`
}

// HTTPSource fetches a JSON document with GET and selects one number from it with
// the objective's query, a JSONPath expression such as {.nps.score}.
type HTTPSource struct {
	// url to GET.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="url must be an absolute http or https URL"
	// +kubebuilder:validation:MinLength=1
	URL string `json:"url,omitempty"`

	// headersSecretRef names a Secret in the same namespace whose keys and values
	// are sent as request headers (for example Authorization or X-Api-Key).
	// +optional
	HeadersSecretRef LocalObjectReference `json:"headersSecretRef,omitzero"`

	// tls configures TLS.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`

	// timeout of one request: more than 0s and at most 5m. Defaults to 10s.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.size() <= 32 && self.matches('^([0-9]{1,5}(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s') && duration(self) <= duration('5m')",message="timeout must be a positive duration of at most 5m, such as 10s (numbers of at most 5 digits, units ns, us, ms, s, m, h)"
	Timeout *Duration `json:"timeout,omitempty"`

	// maxBodyBytes is the largest response body read; a larger one is an error.
	// Defaults to 1 MiB.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16777216
	MaxBodyBytes int64 `json:"maxBodyBytes,omitempty"`
}

// StaticValue is a decimal number as a string, such as "99.5" or "-10".
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?[0-9]+(\\\\.[0-9]+)?$')",message="every static value must be a decimal number such as 99.5 or -10"
type StaticValue string

// StaticSource holds values in the spec: manual inputs (a quarterly NPS figure),
// demos and tests. Patching a value is a real signal change.
type StaticSource struct {
	// values by name; an objective's query names one. Values are decimal strings.
	// At most 256 values; a name has 1 to 253 characters.
	// +required
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=256
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() >= 1 && k.size() <= 253)",message="every static value name must have 1 to 253 characters"
	Values map[string]StaticValue `json:"values,omitempty"`
}

// SignalSourceSpec says where live signals come from. Exactly one provider is set.
// +kubebuilder:validation:XValidation:rule="(has(self.prometheus) ? 1 : 0) + (has(self.http) ? 1 : 0) + (has(self.static) ? 1 : 0) == 1",message="exactly one of prometheus, http or static must be set"
// +kubebuilder:validation:MinProperties=1
type SignalSourceSpec struct {
	// prometheus runs instant PromQL queries.
	// +optional
	Prometheus PrometheusSource `json:"prometheus,omitzero"`

	// http fetches JSON and selects a number with JSONPath.
	// +optional
	HTTP HTTPSource `json:"http,omitzero"`

	// static holds values in the spec.
	// +optional
	Static StaticSource `json:"static,omitzero"`

	// minInterval is the shortest interval any objective may poll this source at;
	// shorter objective intervals are raised to it. From 10s to 24h when set.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.size() <= 32 && self.matches('^([0-9]{1,5}(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="minInterval must be a duration from 10s to 24h, such as 30s or 5m (numbers of at most 5 digits, units ns, us, ms, s, m, h)"
	MinInterval *Duration `json:"minInterval,omitempty"`
}

// SignalSourceStatus is the observed state of a SignalSource.
// +kubebuilder:validation:MinProperties=1
type SignalSourceStatus struct {
	// conditions are Ready (reachable at the last probe), Reconciling and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the status reflects.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// provider that is configured: prometheus, http or static.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:MinLength=1
	Provider string `json:"provider,omitempty"`

	// lastProbeTime is when the source was last probed successfully.
	// +optional
	LastProbeTime *metav1.Time `json:"lastProbeTime,omitempty"`
}

// SignalSource is where live signals come from: a Prometheus server, a JSON endpoint
// or static values.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sigsrc,categories=cx
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.status.provider`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SignalSource struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says where the signals come from.
	// +required
	Spec SignalSourceSpec `json:"spec,omitzero"`

	// status is the observed state.
	// +optional
	Status SignalSourceStatus `json:"status,omitzero"`
}

// SignalSourceList is a list of SignalSources.
// +kubebuilder:object:root=true
type SignalSourceList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SignalSource `json:"items"`
}

func init() {
	register(&SignalSource{}, &SignalSourceList{})
}
