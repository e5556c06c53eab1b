package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/engine"
	"github.com/cxops/cxops/internal/textutil"
)

// patchStatus sends a merge patch of the status subresource from before to obj, and
// nothing at all when the status did not change: a reconcile that changes nothing
// writes nothing. The optimistic lock refuses a patch computed from a stale cached
// copy (a merge patch from a stale base would leave fields behind); see done.
//
// When the API server refuses the status itself (Invalid: a value over a schema
// limit, a bug), the refusal is reported in the object's Ready condition with
// the API server's message, so that a refused status never leaves the last one
// standing silently.
func patchStatus(ctx context.Context, c client.Client, before, obj client.Object, statusOf func(client.Object) any) (bool, error) {
	if equality.Semantic.DeepEqual(statusOf(before), statusOf(obj)) {
		return false, nil
	}
	// The answer is asked for as metadata only (PartialObjectMetadata): the
	// new resourceVersion is all obj needs from it, since its status is what was
	// sent. Decoding the whole object that a JSON answer holds was a tenth of the
	// manager's CPU while 10,000 moments converged.
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return false, err
	}
	answer := &metav1.PartialObjectMetadata{}
	answer.SetGroupVersionKind(gvk)
	answer.Namespace, answer.Name = obj.GetNamespace(), obj.GetName()
	err = c.Status().Patch(ctx, answer, statusMergePatch{before: statusOf(before), after: statusOf(obj), resourceVersion: before.GetResourceVersion()})
	if err == nil {
		obj.SetResourceVersion(answer.ResourceVersion)
		return true, nil
	}
	if apierrors.IsInvalid(err) {
		reportRejectedStatus(ctx, c, before, err)
	}
	return false, fmt.Errorf("patching status: %w", err)
}

// statusMergePatch is the JSON merge patch of a status from before to after, with
// the resourceVersion of the object it was computed from (the optimistic lock).
// It is what client.MergeFromWithOptimisticLock sends for a status change, but
// computed from the two statuses alone: MergeFrom copies both whole objects and
// marshals and diffs their metadata and spec too, about half of the manager's
// allocations while 10,000 moments converge.
type statusMergePatch struct {
	before, after   any
	resourceVersion string
}

// statusDoc is the part of an object a status patch is computed from.
type statusDoc struct {
	Metadata *statusDocMeta `json:"metadata,omitempty"`
	Status   any            `json:"status"`
}

type statusDocMeta struct {
	ResourceVersion string `json:"resourceVersion"`
}

func (p statusMergePatch) Type() types.PatchType { return types.MergePatchType }

func (p statusMergePatch) Data(client.Object) ([]byte, error) {
	if p.resourceVersion == "" {
		return nil, fmt.Errorf("a status patch needs the resourceVersion of the object it was computed from")
	}
	after, err := json.Marshal(statusDoc{Metadata: &statusDocMeta{ResourceVersion: p.resourceVersion}, Status: p.after})
	if err != nil {
		return nil, err
	}
	// A first status (the zero status before) is its own merge patch: there is
	// nothing to remove, and a null in it removes a field that is not there.
	// That is every write while new objects converge; diffing them was a tenth of
	// the manager's allocations at 10,000 Moments. It relies on every zero
	// status marshalling to {} (TestZeroStatusesMarshalEmpty).
	if p.before == nil || reflect.ValueOf(p.before).IsZero() {
		return after, nil
	}
	before, err := json.Marshal(statusDoc{Status: p.before})
	if err != nil {
		return nil, err
	}
	return jsonpatch.CreateMergePatch(before, after)
}

// reportRejectedStatus writes only the Ready condition, False with reason
// StatusRejected, on top of the status the API server holds.
func reportRejectedStatus(ctx context.Context, c client.Client, before client.Object, rejected error) {
	log := ctrl.LoggerFrom(ctx)
	log.Error(rejected, "the API server refused the status; reporting it in the Ready condition")
	acc, ok := before.(cxv1.ConditionsAccessor)
	if !ok {
		return
	}
	base := before.DeepCopyObject().(client.Object)
	report := before.DeepCopyObject().(client.Object)
	conds := append([]metav1.Condition(nil), acc.GetConditions()...)
	setCondition(&conds, before.GetGeneration(), cxv1.ReadyCondition, metav1.ConditionFalse, cxv1.ReasonStatusRejected,
		"the API server refused the status cxops computed: "+rejected.Error())
	report.(cxv1.ConditionsAccessor).SetConditions(conds)
	if err := c.Status().Patch(ctx, report, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		log.Error(err, "reporting the refused status failed too")
	}
}

// conflictRetry is how soon a reconcile whose write conflicted runs again.
const conflictRetry = time.Second

// done ends a reconcile: a conflict (the cache had not caught up yet, or another
// writer came first) requeues the object quietly after conflictRetry; other
// errors are returned, for the controller's exponential backoff.
func done(res ctrl.Result, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return res, err
}

// maxConditionMessage bounds a condition's message (the API allows 32768; a
// person reads the first lines).
const maxConditionMessage = 1024

// setCondition sets a condition; lastTransitionTime moves only when the status does.
func setCondition(conds *[]metav1.Condition, generation int64, typ string, status metav1.ConditionStatus, reason, message string) {
	message = textutil.Truncate(message, maxConditionMessage)
	apimeta.SetStatusCondition(conds, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: generation,
	})
}

// setReadiness writes Ready and the kstatus abnormal-true conditions from one outcome:
// ready, waiting on something that may change by itself (Reconciling) or stalled
// until the spec or a referenced object changes (Stalled).
func setReadiness(conds *[]metav1.Condition, generation int64, r readiness) {
	switch {
	case r.ready:
		setCondition(conds, generation, cxv1.ReadyCondition, metav1.ConditionTrue, r.reason, r.message)
		apimeta.RemoveStatusCondition(conds, cxv1.ReconcilingCondition)
		apimeta.RemoveStatusCondition(conds, cxv1.StalledCondition)
	case r.stalled:
		setCondition(conds, generation, cxv1.ReadyCondition, metav1.ConditionFalse, r.reason, r.message)
		setCondition(conds, generation, cxv1.StalledCondition, metav1.ConditionTrue, r.reason, r.message)
		apimeta.RemoveStatusCondition(conds, cxv1.ReconcilingCondition)
	default:
		setCondition(conds, generation, cxv1.ReadyCondition, metav1.ConditionFalse, r.reason, r.message)
		setCondition(conds, generation, cxv1.ReconcilingCondition, metav1.ConditionTrue, r.reason, r.message)
		apimeta.RemoveStatusCondition(conds, cxv1.StalledCondition)
	}
}

// readiness is the outcome of resolving an object's spec and references.
type readiness struct {
	ready   bool
	stalled bool
	reason  string
	message string
}

func ready(reason, message string) readiness {
	return readiness{ready: true, reason: reason, message: message}
}

func waiting(reason, message string) readiness { return readiness{reason: reason, message: message} }

func stalled(reason, message string) readiness {
	return readiness{stalled: true, reason: reason, message: message}
}

// equalJSON compares two API values semantically.
func equalJSON(a, b any) bool { return equality.Semantic.DeepEqual(a, b) }

func ctrlKey(namespace, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: name}
}

// missingReference reports whether a readiness reason says that a referenced
// object (or a part of it) does not exist: something a typo causes, and that
// stalls once it has lasted longer than the grace period.
func missingReference(reason string) bool {
	switch reason {
	case cxv1.ReasonJourneyNotFound, cxv1.ReasonStageNotFound, cxv1.ReasonProcessNotFound, cxv1.ReasonSourceNotFound,
		cxv1.ReasonStreamNotFound, cxv1.ReasonMomentNotFound, cxv1.ReasonSecretNotFound, cxv1.ReasonSecretNotUsable:
		return true
	}
	return false
}

// graceTracker turns a missing reference into Stalled (kstatus Failed) once it
// has been missing for longer than the grace period, so that a GitOps sync fails
// with a reason instead of waiting for its timeout. The object returns to
// Reconciling or Ready by itself when the reference appears (the watches enqueue
// it). The clock survives a restart: it is seeded from the conditions in status.
type graceTracker struct {
	grace time.Duration
	mu    sync.Mutex
	since map[string]graceEntry
}

type graceEntry struct {
	reason string
	since  time.Time
}

func newGraceTracker(grace time.Duration) *graceTracker {
	return &graceTracker{grace: grace, since: map[string]graceEntry{}}
}

// apply returns the readiness to report for the object key, and how long until a
// missing reference stalls (0 when nothing is pending).
func (g *graceTracker) apply(key string, r readiness, conds []metav1.Condition, now time.Time) (readiness, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.ready || r.stalled || !missingReference(r.reason) {
		delete(g.since, key)
		return r, 0
	}
	e, ok := g.since[key]
	if !ok || e.reason != r.reason {
		e = graceEntry{reason: r.reason, since: now}
		if c := apimeta.FindStatusCondition(conds, cxv1.StalledCondition); c != nil && c.Status == metav1.ConditionTrue && c.Reason == r.reason {
			e.since = now.Add(-g.grace)
		} else if c := apimeta.FindStatusCondition(conds, cxv1.ReconcilingCondition); c != nil && c.Status == metav1.ConditionTrue &&
			c.Reason == r.reason && c.LastTransitionTime.Time.Before(now) {
			e.since = c.LastTransitionTime.Time
		}
		g.since[key] = e
	}
	if left := e.since.Add(g.grace).Sub(now); left > 0 {
		return r, left
	}
	return stalled(r.reason, fmt.Sprintf("%s (missing for more than %s; cxops resumes by itself once it exists)", r.message, g.grace)), 0
}

// forget drops the clock of a deleted object.
func (g *graceTracker) forget(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.since, key)
}

// existingNames lists, for a message, the names of the objects of a kind in a
// namespace: "existing: a, b, c" or "none exists in namespace ns".
func existingNames(ctx context.Context, c client.Reader, list client.ObjectList, ns string) string {
	if err := c.List(ctx, list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return ""
	}
	items, err := apimeta.ExtractList(list)
	if err != nil {
		return ""
	}
	if len(items) == 0 {
		return "none exists in namespace " + ns
	}
	names := make([]string, 0, len(items))
	for _, it := range items {
		if o, ok := it.(client.Object); ok {
			names = append(names, o.GetName())
		}
	}
	return "existing: " + joinLimited(names, 10)
}

// change classifies what a reconcile changed in a status, for deciding whether
// it earns a write: the one rule for Moments and Journeys.
type change int

const (
	// changeNone: nothing but live values (which are metrics) changed.
	changeNone change = iota
	// changeCause: only the explanation changed (an objective's message, a
	// condition's message): written at most once per evaluation interval.
	changeCause
	// changeTransition: a state, a reason, a hysteresis clock, health or the
	// observed generation changed: written at once.
	changeTransition
)

// classify compares two objective lists and two condition lists.
func classify(beforeObjs, afterObjs []cxv1.ObjectiveStatus, beforeConds, afterConds []metav1.Condition) change {
	if !equality.Semantic.DeepEqual(withoutCauses(beforeObjs), withoutCauses(afterObjs)) ||
		!equality.Semantic.DeepEqual(conditionsWithoutMessages(beforeConds), conditionsWithoutMessages(afterConds)) {
		return changeTransition
	}
	if !equality.Semantic.DeepEqual(withoutValues(beforeObjs), withoutValues(afterObjs)) ||
		!equality.Semantic.DeepEqual(beforeConds, afterConds) {
		return changeCause
	}
	return changeNone
}

// withoutCauses returns statuses without values and messages.
func withoutCauses(list []cxv1.ObjectiveStatus) []cxv1.ObjectiveStatus {
	out := withoutValues(list)
	for i := range out {
		out[i].Message = ""
	}
	return out
}

func conditionsWithoutMessages(conds []metav1.Condition) []metav1.Condition {
	out := make([]metav1.Condition, len(conds))
	for i := range conds {
		out[i] = conds[i]
		out[i].Message = ""
		out[i].LastTransitionTime = metav1.Time{}
	}
	return out
}

// logReadiness logs a change of the Ready condition (and Stalled), with its
// reason and message: a failure always shows in the logs.
func logReadiness(log logr.Logger, before, after []metav1.Condition) {
	b := apimeta.FindStatusCondition(before, cxv1.ReadyCondition)
	a := apimeta.FindStatusCondition(after, cxv1.ReadyCondition)
	if a == nil || (b != nil && b.Status == a.Status && b.Reason == a.Reason) {
		return
	}
	stalledNow := apimeta.IsStatusConditionTrue(after, cxv1.StalledCondition)
	switch {
	case a.Status == metav1.ConditionTrue:
		log.Info("ready", "reason", a.Reason)
	case stalledNow:
		log.Info("stalled: needs a change to the spec or to a referenced object", "reason", a.Reason, "message", a.Message)
	default:
		log.Info("not ready", "reason", a.Reason, "message", a.Message)
	}
}

// firstSight tracks the objects whose current generation waits for the first
// evaluation of some objective. A new generation is written at once with
// Ready=False and Reconciling=True (reason Evaluating), so that kstatus reports
// InProgress, not Current, until cxops has looked at it; the evaluated status
// follows when the engine notifies. A restart continues a wait the status shows.
type firstSight struct {
	mu      sync.Mutex
	waiting map[string]int64
	// deferred is when each key's generation was first deferred (deferFor).
	deferred map[string]deferral
}

type deferral struct {
	generation int64
	since      time.Time
}

// firstSightDefer bounds how long the first status of a new generation waits for
// its first evaluation (and its sources' registration) before it is written as
// Evaluating.
const firstSightDefer = 2 * time.Second

// deferFor reports how much longer the first status of key's generation may
// wait (0: write it now). The wait starts at the first call for a generation.
func (f *firstSight) deferFor(key string, generation int64, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deferred == nil {
		f.deferred = map[string]deferral{}
	}
	d, ok := f.deferred[key]
	if !ok || d.generation != generation {
		d = deferral{generation: generation, since: now}
		f.deferred[key] = d
	}
	return firstSightDefer - now.Sub(d.since)
}

func (f *firstSight) evaluating(key string, generation, observed int64, conds []metav1.Condition, snap []engine.Result) bool {
	pending := false
	for _, res := range snap {
		pending = pending || !res.Evaluated
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waiting == nil {
		f.waiting = map[string]int64{}
	}
	if !pending {
		delete(f.waiting, key)
		delete(f.deferred, key)
		return false
	}
	if g, ok := f.waiting[key]; ok && g == generation {
		return true
	}
	c := apimeta.FindStatusCondition(conds, cxv1.ReconcilingCondition)
	if observed != generation || (c != nil && c.Status == metav1.ConditionTrue && c.Reason == cxv1.ReasonEvaluating) {
		f.waiting[key] = generation
		return true
	}
	return false
}

func (f *firstSight) forget(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.waiting, key)
	delete(f.deferred, key)
}

// minPositive returns the smaller of two durations, ignoring those that are not
// positive (0 means "no deadline").
func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// cacheLag remembers the resourceVersion of each object's last status write, so
// that a reconcile triggered before the cache has seen that write (an engine
// notification arriving quickly) waits for it instead of computing from a stale
// copy: the patch would only be refused by the optimistic lock, a wasted request.
// resourceVersions are opaque to clients, but every API server backed by etcd
// issues them as increasing integers; any other form turns the guard off. An
// entry lives until the cache has the write (seen, from the watch), so that the
// map holds only the writes in flight, not one entry per object.
type cacheLag struct {
	mu      sync.Mutex
	written map[string]uint64
}

// behind reports whether the cached copy predates the last status write.
func (c *cacheLag) behind(key, cachedRV string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.written[key]
	if !ok {
		return false
	}
	cached, err := strconv.ParseUint(cachedRV, 10, 64)
	if err != nil || cached >= w {
		delete(c.written, key)
		return false
	}
	return true
}

// wrote records the resourceVersion a status write returned.
func (c *cacheLag) wrote(key, rv string) {
	v, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.written == nil {
		c.written = map[string]uint64{}
	}
	c.written[key] = v
}

// seen drops the entry of key once the cache holds cachedRV, the version of an
// update the watch delivered, and it is not older than the last write.
func (c *cacheLag) seen(key, cachedRV string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.written[key]
	if !ok {
		return
	}
	if cached, err := strconv.ParseUint(cachedRV, 10, 64); err != nil || cached >= w {
		delete(c.written, key)
	}
}

// observe is a predicate that passes everything and tells the cacheLag of each
// update the watch delivers: the cache now holds that version.
func (c *cacheLag) observe() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		if o := e.ObjectNew; o != nil {
			c.seen(o.GetNamespace()+"/"+o.GetName(), o.GetResourceVersion())
		}
		return true
	}}
}

func (c *cacheLag) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.written, key)
}

// cacheLagRetry is how soon a reconcile that found the cache behind runs again.
const cacheLagRetry = 50 * time.Millisecond

// suspendedMessage is what the Suspended condition says.
const suspendedMessage = "spec.suspend is true: cxops does not evaluate this object or act on it until it is false"

// markSuspended records a suspended object in its conditions: Suspended=True,
// and Healthy=Unknown when the kind has it (nothing is evaluated, so nothing is
// known). Ready and the kstatus conditions keep what they said.
func markSuspended(conds *[]metav1.Condition, generation int64, healthy bool) {
	setCondition(conds, generation, cxv1.SuspendedCondition, metav1.ConditionTrue, cxv1.ReasonSuspended, suspendedMessage)
	if healthy {
		setCondition(conds, generation, cxv1.HealthyCondition, metav1.ConditionUnknown, cxv1.ReasonSuspended, "not evaluated while suspended")
	}
}

// maxRequestValue is the schema limit of status.lastHandledReconcileAt.
const maxRequestValue = 128

// reconcileRequested returns the value of the reconcile request annotation when
// it differs from the one last handled. An annotation is the tenant's text of any
// length: it is cut to what status can hold before it is compared or written, so
// a long one neither fails the status patch nor counts as new on every reconcile.
func reconcileRequested(o client.Object, handled string) (string, bool) {
	v, ok := o.GetAnnotations()[cxv1.ReconcileRequestAnnotation]
	v = textutil.TruncateNoMark(v, maxRequestValue)
	return v, ok && v != handled
}
