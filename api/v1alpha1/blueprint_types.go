package v1alpha1

// The service blueprint of a stage: what the customer does, what the company does
// in front of the customer (above the line of visibility), the backstage processes
// behind it with their owning teams and SIPOC, and the systems that support them.
// Moments name the process they measure (MomentSpec.Process), so that a moment's
// objectives are the control points of that process.

// StageBlueprint is the service blueprint under one stage. Every list is bounded
// so that a journey stays well under the size an API server accepts.
// +kubebuilder:validation:XValidation:rule="!has(self.backstage) || self.backstage.all(p, self.backstage.exists_one(q, q.name == p.name))",message="backstage process names must be unique within a stage"
// +kubebuilder:validation:XValidation:rule="!has(self.supportSystems) || self.supportSystems.all(s, self.supportSystems.exists_one(t, t.name == s.name))",message="support system names must be unique within a stage"
// +kubebuilder:validation:XValidation:rule="!has(self.backstage) || self.backstage.all(p, !has(p.systems) || p.systems.all(n, has(self.supportSystems) && self.supportSystems.exists(s, s.name == n)))",message="every system a backstage process runs on must be declared in supportSystems of the same stage"
// +kubebuilder:validation:MinProperties=1
type StageBlueprint struct {
	// customerActions are what the customer does in this stage, in order.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	CustomerActions []string `json:"customerActions,omitempty"`

	// frontstage are the company's actions the customer sees (above the line of
	// visibility).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Frontstage []FrontstageAction `json:"frontstage,omitempty"`

	// backstage are the processes behind the frontstage that the customer does not
	// see (below the line of visibility). Moments name them in spec.process.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Backstage []BackstageProcess `json:"backstage,omitempty"`

	// supportSystems are the systems the backstage processes run on.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	SupportSystems []SupportSystem `json:"supportSystems,omitempty"`
}

// FrontstageAction is one action of the company in front of the customer.
type FrontstageAction struct {
	// action the company performs, such as "confirm the order with a delivery date".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Action string `json:"action,omitempty"`

	// touchpoint where it happens, such as "order confirmation e-mail".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Touchpoint string `json:"touchpoint,omitempty"`

	// channel of the touchpoint.
	// +optional
	Channel Channel `json:"channel,omitempty"`

	// team that performs the action.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Team string `json:"team,omitempty"`
}

// BackstageProcess is a process behind the frontstage, with its owner, the systems
// it runs on and its SIPOC.
type BackstageProcess struct {
	// name of the process, unique in the stage; moments name it in spec.process.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="process name must be lowercase letters, digits and '-', starting and ending with a letter or digit, such as stock-sync"
	Name string `json:"name,omitempty"`

	// displayName for people, such as "Stock synchronisation".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`

	// owner is the team that owns the process.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Owner string `json:"owner,omitempty"`

	// systems the process runs on: names of supportSystems of the same stage.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	Systems []string `json:"systems,omitempty"`

	// sipoc describes the process: suppliers, inputs, outputs and customers.
	// +optional
	SIPOC SIPOC `json:"sipoc,omitzero"`
}

// SIPOC lists the suppliers, inputs, outputs and customers of a process (the
// process itself is the BackstageProcess). The process's control points are the
// objectives of the moments that name it.
// +kubebuilder:validation:MinProperties=1
type SIPOC struct {
	// suppliers of the process's inputs, such as "ERP", "carrier".
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	Suppliers []string `json:"suppliers,omitempty"`

	// inputs the process consumes, such as "stock levels".
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	Inputs []string `json:"inputs,omitempty"`

	// outputs the process produces, such as "available-to-promise per part".
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	Outputs []string `json:"outputs,omitempty"`

	// customers of the outputs, internal or external, such as "web shop".
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	Customers []string `json:"customers,omitempty"`
}

// SupportSystem is a system the backstage processes run on.
type SupportSystem struct {
	// name of the system, unique in the stage, such as "erp".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`

	// description for people, such as "SAP S/4HANA, stock and orders".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Description string `json:"description,omitempty"`

	// owner is the team that runs the system.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Owner string `json:"owner,omitempty"`
}

// ProcessStatus is the measured health of one backstage process: the health of
// its control points, the objectives of the moments that name it.
type ProcessStatus struct {
	// name of the process.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`

	// health of the process: the worst health of the moments that name it;
	// Unknown when no moment names it or none has data.
	// +required
	Health HealthState `json:"health,omitempty"`

	// controlPoints is the number of objectives of the moments that name the process.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ControlPoints *int32 `json:"controlPoints,omitempty"`

	// drifting is the number of those objectives that are drifting (AtRisk or
	// Breaching with an open episode).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Drifting *int32 `json:"drifting,omitempty"`

	// moments names the moments that measure the process (at most 32 are listed).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	Moments []string `json:"moments,omitempty"`
}
