// Package engine evaluates objectives: it compiles API objectives into Specs,
// steps a pure state machine for each observation, and schedules the fetches of
// live signals. It is plain Go, with no Kubernetes client, and runs only on the
// leader.
//
// # Compilation
//
// Compile parses the decimal strings of a Target once, defaults and floors the
// interval (1m by default, at least 10s and the source's minInterval), defaults
// for and recoverFor to 0, noData to Unknown and weight to 1, and renders the
// target for people (">= 99.5", "in [1, 5]", ">= 99.5 (warning below 99.7)").
// The caller sets Spec.Source ("namespace/name") and Spec.Query (the rendered
// query).
//
// # Classification
//
// An observed value is Met, Warning (the target is met but the warning bound is
// not: below it for >= and >, above it for <= and <) or a breach (the target is
// missed). == compares exactly; InRange is inclusive. A failed fetch, missing
// data or a NaN value is "no data". No data is never Met: with noData Unknown it
// makes the state Unknown, with noData Breached it counts as a breach.
//
// # Hysteresis
//
// Three timestamps carry an episode and live in the owner's status, so a restart
// or a new leader continues where the old one stopped (a State restored from
// them behaves exactly as if the engine had never stopped):
//
//   - BreachingSince: when the current breach episode began.
//   - DriftingSince: when the objective started drifting in this episode.
//   - MetSince: when a drifting objective was first met again (recovery clock).
//
// Step applies these rules, with now the evaluation time:
//
//   - A breach clears MetSince and sets BreachingSince if unset. If DriftingSince
//     is set the state is Drifting; else if now-BreachingSince >= for, the
//     objective starts drifting (DriftingSince = now, Drifting); else Breached.
//   - A Met or Warning value when not drifting clears BreachingSince: the state is
//     Met or Warning. When drifting, it sets MetSince if unset; once
//     now-MetSince >= recoverFor the objective has recovered (the three
//     timestamps are cleared, Met or Warning), until then it stays Drifting
//     (recovering).
//   - No data with noData Unknown makes the state Unknown. The breach clock keeps
//     running (BreachingSince and DriftingSince are kept: a breach, a gap and a
//     breach are one episode, and a drifting objective keeps its open
//     remediation task) but the recovery clock restarts (MetSince is cleared:
//     recovery must be observed continuously).
//   - Since moves only when State changes.
//
// Messages explain Warning, Breached, Drifting and Unknown; Met has none. To keep
// Step allocation-free on the steady path, and status free of churn, a message is
// built only when the state or its cause changes (value versus no data, start or
// loss of recovery, a different error text), so it describes the state as it
// began: the live value is State.Value and the cxops_objective_value metric.
//
// # Scheduling
//
// The Engine groups objectives by (Source, Query) and fetches each group once per
// tick, at the smallest interval of its members, evaluating every member with the
// shared observation: N objectives on one query cost one provider call per
// interval. A new group (or an objective added or changed) is evaluated promptly,
// after a random delay of at most min(interval/10, 1s); later ticks come every
// interval, stretched or shrunk by up to the jitter fraction (10%). One loop
// goroutine keeps the groups in a heap ordered by due time; a bounded pool of
// workers fetches them, with at most half of the workers on one source so that a
// slow source cannot delay the others, and a per-fetch timeout (30s) on top of
// the provider's own. A source the provider lookup does not know is "not ready":
// its objectives observe no data and nothing is called.
//
// After a tick, each owner with an objective whose state changed (or a hysteresis
// timestamp set or cleared), or evaluated for the first time, is notified once.
// Values that change without a transition do not notify: the controller writes
// status on transitions and at its own heartbeat.
//
// # Metrics
//
// With a Registerer the engine exports cxops_objective_value, cxops_objective_target
// (with a bound label), cxops_objective_state (one series per objective, value 1,
// labelled with the current state), cxops_provider_requests_total,
// cxops_provider_request_duration_seconds, cxops_evaluation_lag_seconds and
// cxops_evaluations_total. The series of an objective are deleted when it is
// removed, those of a source when no objective uses it any more.
package engine
