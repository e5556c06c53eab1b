package v1alpha1

// Condition types. Ready and Healthy are "normal-true": True is the good state.
// Reconciling and Stalled are "abnormal-true", as kstatus expects: they are present
// only while the object is being worked on or cannot make progress.
const (
	// ReadyCondition says the spec was understood, every reference resolved and the
	// signals can be obtained.
	ReadyCondition = "Ready"
	// HealthyCondition says every objective is met (Moment, Journey). False when an
	// objective is breached or drifting, Unknown when data is missing.
	HealthyCondition = "Healthy"
	// OnTrackCondition says a roadmap stream has no initiative at risk.
	OnTrackCondition = "OnTrack"
	// ReconcilingCondition is True while the controller works toward the spec.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is True when progress needs a change to the spec or to a
	// referenced object; the controller does not retry in a loop.
	StalledCondition = "Stalled"
	// SuspendedCondition is True while spec.suspend is set: cxops neither
	// evaluates the object nor acts on it.
	SuspendedCondition = "Suspended"
	// DeliveredCondition says every notification of a remediation task was delivered.
	DeliveredCondition = "Delivered"
	// RateLimitedCondition is True on a SignalSource while the operator's
	// per-host egress rate cannot carry the calls its objectives are scheduled
	// for, so that their intervals are stretched; absent otherwise. Ready is not
	// affected: the signals are obtained, later than scheduled.
	RateLimitedCondition = "RateLimited"
)

// Condition reasons: one CamelCase word each, telling why a condition has its status.
const (
	// ReasonSucceeded: the last reconciliation did what the spec asks.
	ReasonSucceeded = "Succeeded"

	// ReasonJourneyNotFound: the referenced Journey does not exist in the namespace.
	ReasonJourneyNotFound = "JourneyNotFound"
	// ReasonStageNotFound: the referenced stage is not one of the journey's stages.
	ReasonStageNotFound = "StageNotFound"
	// ReasonProcessNotFound: the moment's spec.process is not a backstage process
	// of its stage's blueprint; the message names it and lists the processes that
	// exist.
	ReasonProcessNotFound = "ProcessNotFound"
	// ReasonSourceNotFound: a referenced SignalSource does not exist in the namespace.
	ReasonSourceNotFound = "SourceNotFound"
	// ReasonSourceNotReady: a referenced SignalSource exists but is not Ready.
	ReasonSourceNotReady = "SourceNotReady"
	// ReasonStreamNotFound: the referenced RoadmapStream does not exist.
	ReasonStreamNotFound = "StreamNotFound"
	// ReasonMomentNotFound: a referenced Moment does not exist.
	ReasonMomentNotFound = "MomentNotFound"
	// ReasonObjectiveNotFound: a RoadmapStream initiative addresses an objective that
	// the named Moment does not have; the message names it and lists the moment's
	// objectives.
	ReasonObjectiveNotFound = "ObjectiveNotFound"
	// ReasonSecretNotFound: a referenced Secret does not exist in the namespace.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretInvalid: a referenced Secret lacks a key the spec needs.
	ReasonSecretInvalid = "SecretInvalid"
	// ReasonSecretNotUsable: a referenced Secret exists but is not labelled
	// cx.cxops.io/usable-by=cxops (SecretUsableByLabel), so cxops does not read it;
	// the message says which label to add.
	ReasonSecretNotUsable = "SecretNotUsable"
	// ReasonInvalidSpec: the spec passed the schema but cannot be used (for example a
	// query template that does not parse).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonUnreachable: the signal source gave no valid answer: no connection, a
	// TLS failure, no answer in time or an unexpected HTTP status (401 and 403
	// included). The message is the same for all; the detail is in the manager's
	// debug log.
	ReasonUnreachable = "Unreachable"
	// ReasonUnauthorized is no longer set by cxops (a refusal of the credentials
	// reads as Unreachable); kept for objects that still carry it.
	ReasonUnauthorized = "Unauthorized"
	// ReasonBadResponse: the signal source answered with something that is not a
	// single number.
	ReasonBadResponse = "BadResponse"
	// ReasonBlockedAddress: the address is refused by the operator's egress policy.
	ReasonBlockedAddress = "BlockedAddress"

	// ReasonObjectivesMet: every objective is met.
	ReasonObjectivesMet = "ObjectivesMet"
	// ReasonObjectiveAtRisk: an objective is between its target and its warning bound.
	ReasonObjectiveAtRisk = "ObjectiveAtRisk"
	// ReasonObjectiveBreached: an objective misses its target, not yet for long enough
	// to be drifting.
	ReasonObjectiveBreached = "ObjectiveBreached"
	// ReasonObjectiveDrifting: an objective has missed its target for longer than `for`.
	ReasonObjectiveDrifting = "ObjectiveDrifting"
	// ReasonKeyObjectiveBreached: a key objective is breached, which degrades the
	// journey whatever its score.
	ReasonKeyObjectiveBreached = "KeyObjectiveBreached"
	// ReasonNoData: a signal returned no data or could not be fetched.
	ReasonNoData = "NoData"
	// ReasonAwaitingEvaluation: the objectives have not been evaluated yet.
	ReasonAwaitingEvaluation = "AwaitingEvaluation"
	// ReasonNoMoments: the journey has no moments yet.
	ReasonNoMoments = "NoMoments"

	// ReasonInitiativesAtRisk: an initiative is blocked, due soon or overdue while an
	// objective it addresses is still breached or has no data.
	ReasonInitiativesAtRisk = "InitiativesAtRisk"
	// ReasonInitiativesOnTrack: no initiative is at risk.
	ReasonInitiativesOnTrack = "InitiativesOnTrack"

	// ReasonDeliveryFailed: a notification could not be delivered yet; it is retried.
	ReasonDeliveryFailed = "DeliveryFailed"
	// ReasonDelivered: every notification was delivered.
	ReasonDelivered = "Delivered"
	// ReasonEvaluating: a new generation was seen and its objectives wait for their
	// first evaluation (or a source for its first probe).
	ReasonEvaluating = "Evaluating"
	// ReasonTaskCreationFailed: an objective drifts but its remediation task could
	// not be created; the message says why, and cxops retries with backoff.
	ReasonTaskCreationFailed = "TaskCreationFailed"
	// ReasonStatusRejected: the API server refused the status cxops computed; the
	// message carries the API server's answer.
	ReasonStatusRejected = "StatusRejected"
	// ReasonDeliveryPending: a notification is due and has not been attempted yet.
	ReasonDeliveryPending = "DeliveryPending"
	// ReasonDeliveryAbandoned: a person set spec.abandonNotifications while
	// notifications were still undelivered; they are no longer retried.
	ReasonDeliveryAbandoned = "DeliveryAbandoned"
	// ReasonSuspended: spec.suspend is true.
	ReasonSuspended = "Suspended"
	// ReasonEgressRateExceeded: the queries of the sources on one host need more
	// calls per second than the per-host egress rate allows; the message gives
	// the numbers and how long the intervals take instead.
	ReasonEgressRateExceeded = "EgressRateExceeded"
)

// ReconcileRequestAnnotation asks for an immediate reconcile and evaluation when
// its value changes (as Flux's reconcile.fluxcd.io/requestedAt); the value handled
// last is status.lastHandledReconcileAt.
const ReconcileRequestAnnotation = "cx.cxops.io/requestedAt"
