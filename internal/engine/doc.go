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
// workers (16) fetches them. A source the provider lookup does not know is "not
// ready": its objectives observe no data and nothing is called.
//
// Workers take batches: the due groups of one source, fetched one after the
// other and then evaluated under one lock. A provider that answers from memory
// (providers.Traits.InMemory, the static provider) is called without a deadline,
// up to 256 groups per batch; a not ready source's groups are batched the same
// way. A network provider's batch is one group, whose fetch has a timeout (30s)
// on top of the provider's own, so that a slow query never delays another.
//
// Groups are ticked independently, each with its own jitter, so that a network
// source's calls spread over the interval. A source whose provider answers from
// memory, or selects every query from one shared document
// (providers.Traits.SharedFetch, the HTTP JSON provider), has its ticks aligned
// instead: a group's next tick is the source's next tick of the same interval
// when that lies within the group's jitter window, and prompt evaluations join a
// pending prompt tick of the source. Its groups then come due together: one batch
// for an in-memory source, one fetch of the document for a shared-fetch source,
// which gets the tick's due time (providers.WithTick) to tell which calls may
// share it. With jitter disabled nothing is aligned.
//
// Workers are shared fairly between tenants: due groups wait in their source's
// queue, and the loop hands them out round robin over namespaces (the part of the
// source key before "/"), then over the sources of the namespace. At most a
// quarter of the workers fetch for one namespace, and at most half of that for
// one source. These caps hold even when the pool is otherwise idle, so that
// fetches that hang (up to the fetch timeout) can never occupy more than their
// namespace's share: another namespace keeps its fetch rate, and detects a fault
// within one interval. (Four namespaces whose sources all hang still take the
// pool until their fetches time out.)
//
// After a tick, each owner with an objective whose state changed (or a hysteresis
// timestamp set or cleared), whose cause changed (its Message, in a state that is
// not Met: a different error text, value versus no data), or evaluated for the
// first time, is notified once. Values that change without a transition do not
// notify: the controller writes status on transitions and at its own heartbeat.
// Result.Interval lets the owner pace writes caused by changes of cause.
//
// # Staleness
//
// A value is trusted for staleAfter = 2 × the objective's interval + the fetch
// timeout after its evaluation (one missed tick and a fetch that timed out). An
// evaluated objective whose LastEvaluated is older (its schedule starved, its
// fetch hung) is Unknown, with Since = LastEvaluated + staleAfter, no value, the
// recovery clock cleared (the breach clock runs on, as with no data) and the
// message "no fresh value since <LastEvaluated>: not evaluated within
// <staleAfter>"; Result.Stale is set. Snapshot reports it so from that instant;
// the loop's sweep (at most once a second, armed for the earliest deadline) makes
// it the engine's state and notifies the owner once. The next evaluation replaces
// it as usual.
//
// # Source outcomes
//
// The engine follows the outcome of each source's fetches. A source is failing
// when the latest fetch of each of its queries failed (no data is an answer, not
// a failure; an unknown source and a fetch cut short by shutdown do not count).
// SourceOutcome is called, outside the lock, when a source starts failing (with
// the error), when its failure's reason or message changes (as seen on the query
// whose failure was reported, so that queries failing differently do not
// alternate), and with nil when a fetch succeeds again or nothing fetches the
// failing source any more. A stable source, healthy or failing, is never
// reported twice. The changes are logged at Info (keys source, reason, message),
// every failed fetch at V(1); the messages are the providers' own, which never
// contain a response body or a secret.
//
// # Egress load
//
// Each source's schedule needs calls per second: one per query per interval (one
// per interval for a shared-fetch source; none for an in-memory one). The sources
// whose provider reports the same egress host (providers.Traits.Host) share the
// operator's per-host rate (Traits.Rate). When they need more than it allows,
// their calls wait for it and every interval of those sources takes
// need/rate times longer than scheduled. Load returns that stretch with the
// numbers behind it; LoadChanged is called when a source starts or stops being
// stretched, or its stretch moves by more than a tenth, and when a stretched
// source is no longer used. The loads are recomputed when a group, an interval
// or a provider's traits change, not per tick.
//
// # Metrics
//
// With a Registerer the engine exports cxops_objective_value, cxops_objective_target
// (with a bound label), cxops_objective_state (one series per objective, value 1,
// labelled with the current state), cxops_provider_requests_total,
// cxops_provider_request_duration_seconds (not for in-memory answers),
// cxops_evaluation_lag_seconds, cxops_evaluations_total and
// cxops_source_interval_stretch_ratio (by source, for rate-limited sources). The series of an objective are deleted when it is
// removed, those of a source when no objective uses it any more.
package engine
