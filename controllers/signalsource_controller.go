package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/engine"
	"github.com/cxops/cxops/internal/providers"
	"github.com/cxops/cxops/internal/textutil"
)

// SignalSourceReconciler builds the provider of each SignalSource from its spec and
// Secrets, probes it, reports Ready, and hands the provider to the evaluation engine
// through the registry.
type SignalSourceReconciler struct {
	client.Client
	// APIReader reads the metadata of a referenced Secret that is not in the
	// cache, to tell a missing Secret from one without the opt-in label.
	APIReader client.Reader
	Registry  *providers.Registry
	Engine    *engine.Engine
	Options   Options
	// Fetches holds the outcome of the engine's fetches of each source (the
	// engine's SourceOutcome hook) and asks for a reconcile when it changes. Nil
	// disables it: readiness then follows the probe alone.
	Fetches *fetchOutcomes
	// Recorder raises events when a source starts failing and when it recovers.
	Recorder events.EventRecorder
	// Requests counts the HTTP requests sent to each source; nil counts nothing.
	Requests *sourceRequests

	// Settled learns when a source's provider is registered or refused, so that
	// the objectives held until then are evaluated (nil: nothing waits).
	Settled *sourceSettling

	grace    *graceTracker
	mu       sync.Mutex
	failures map[types.NamespacedName]int
	seen     map[types.NamespacedName]int64
}

// +kubebuilder:rbac:groups=cx.cxops.io,resources=signalsources,verbs=get;list;watch
// +kubebuilder:rbac:groups=cx.cxops.io,resources=signalsources/status,verbs=get;patch;update

// Reconcile builds, probes and registers the provider of one SignalSource.
func (r *SignalSourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	src := &cxv1.SignalSource{}
	if err := r.Get(ctx, req.NamespacedName, src); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !src.DeletionTimestamp.IsZero() {
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	key := req.String()
	// The first reconcile of this source in this process (a start, a failover).
	fresh := !r.knows(req.NamespacedName)
	if err := r.firstSight(ctx, src); err != nil {
		return done(ctrl.Result{}, err)
	}
	before := src.DeepCopy()

	res, outcome := r.connect(ctx, src, key)
	outcome, stallIn := r.grace.apply("source/"+key, outcome, before.Status.Conditions, r.Options.Clock.Now())
	if stallIn > 0 && (res.RequeueAfter <= 0 || stallIn < res.RequeueAfter) {
		res.RequeueAfter = stallIn
	}
	src.Status.Provider = providers.Kind(src.Spec)
	src.Status.ObservedGeneration = src.Generation
	setReadiness(&src.Status.Conditions, src.Generation, outcome)
	r.setRateLimited(ctx, src, key)
	r.recordTransitions(ctx, before, src)
	if outcome.ready {
		now := metav1.NewTime(r.Options.Clock.Now()).Rfc3339Copy()
		if probeTimeDue(before.Status.LastProbeTime, readyIn(before), now.Time, r.Options.ProbeInterval, fresh) {
			src.Status.LastProbeTime = &now
		}
	}
	if _, err := patchStatus(ctx, r.Client, before, src, func(o client.Object) any { return o.(*cxv1.SignalSource).Status }); err != nil {
		return done(ctrl.Result{}, err)
	}
	return res, nil
}

// setRateLimited sets RateLimited=True (reason EgressRateExceeded) while the
// per-host egress rate cannot carry the calls the source's objectives are
// scheduled for, so that their intervals are stretched, and removes it when they
// fit. The engine reports each change of that (LoadChanged), which reconciles
// the source.
func (r *SignalSourceReconciler) setRateLimited(ctx context.Context, src *cxv1.SignalSource, key string) {
	if r.Engine == nil {
		return
	}
	was := apimeta.IsStatusConditionTrue(src.Status.Conditions, cxv1.RateLimitedCondition)
	load := r.Engine.Load(key)
	if !load.Stretched() {
		if was {
			ctrl.LoggerFrom(ctx).Info("the egress rate carries the source's calls again")
		}
		apimeta.RemoveStatusCondition(&src.Status.Conditions, cxv1.RateLimitedCondition)
		return
	}
	msg := load.Message()
	setCondition(&src.Status.Conditions, src.Generation, cxv1.RateLimitedCondition, metav1.ConditionTrue, cxv1.ReasonEgressRateExceeded, msg)
	if !was {
		ctrl.LoggerFrom(ctx).Info("the egress rate stretches the source's intervals", "reason", cxv1.ReasonEgressRateExceeded, "message", msg)
		if r.Recorder != nil {
			r.Recorder.Eventf(src, nil, corev1.EventTypeWarning, cxv1.ReasonEgressRateExceeded, "Schedule", "%s", textutil.Truncate(msg, 1024))
		}
	}
}

// firstSight writes, for a new generation of a source that is probed over the
// network, Ready=False and Reconciling=True (reason Evaluating) before the probe,
// which may take up to its timeout: kstatus sees the source InProgress, not
// Current with an old status.
func (r *SignalSourceReconciler) firstSight(ctx context.Context, src *cxv1.SignalSource) error {
	if src.Status.ObservedGeneration == src.Generation || src.Spec.Static.Values != nil {
		return nil
	}
	before := src.DeepCopy()
	src.Status.ObservedGeneration = src.Generation
	src.Status.Provider = providers.Kind(src.Spec)
	setReadiness(&src.Status.Conditions, src.Generation, waiting(cxv1.ReasonEvaluating,
		fmt.Sprintf("probing the %s source for generation %d", providers.Kind(src.Spec), src.Generation)))
	_, err := patchStatus(ctx, r.Client, before, src, func(o client.Object) any { return o.(*cxv1.SignalSource).Status })
	return err
}

// recordTransitions logs every change of Ready and raises an event when the
// source starts failing and when it recovers: what a person wants to know.
func (r *SignalSourceReconciler) recordTransitions(ctx context.Context, before, after *cxv1.SignalSource) {
	logReadiness(ctrl.LoggerFrom(ctx), before.Status.Conditions, after.Status.Conditions)
	if r.Recorder == nil {
		return
	}
	b := apimeta.FindStatusCondition(before.Status.Conditions, cxv1.ReadyCondition)
	a := apimeta.FindStatusCondition(after.Status.Conditions, cxv1.ReadyCondition)
	if a == nil || b == nil || b.Reason == cxv1.ReasonEvaluating || a.Reason == cxv1.ReasonEvaluating {
		return
	}
	switch {
	case b.Status == metav1.ConditionTrue && a.Status != metav1.ConditionTrue:
		r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, "SourceFailing", "Probe", "%s: %s", a.Reason, a.Message)
	case b.Status != metav1.ConditionTrue && a.Status == metav1.ConditionTrue:
		r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, "SourceRecovered", "Probe", "the source answers again (was %s)", b.Reason)
	}
}

// connect builds and probes the provider; the registry holds it whenever it could be
// built, so that objectives report the provider's own errors while it is unreachable.
func (r *SignalSourceReconciler) connect(ctx context.Context, src *cxv1.SignalSource, key string) (ctrl.Result, readiness) {
	inputs := newInputsDigest(src.Spec)
	secrets := func(name string) (map[string][]byte, error) {
		data, err := secretReader{cached: r.Client, api: r.APIReader}.get(ctx, src.Namespace, name)
		if err == nil {
			inputs.secret(name, data)
		}
		return data, err
	}
	p, err := providers.New(src.Spec, secrets, r.Options.Providers.WithLogger(sourceLogger(src)).WithOnRequest(r.Requests.counter(key)))
	if err != nil {
		r.Registry.Delete(key)
		r.Settled.settle(key)
		r.Engine.TriggerSource(key)
		reason := providers.ReasonOf(err, cxv1.ReasonInvalidSpec)
		if reason == cxv1.ReasonInvalidSpec {
			return ctrl.Result{}, stalled(reason, err.Error())
		}
		// A missing Secret is watched; other errors retry with backoff.
		return ctrl.Result{RequeueAfter: r.backoff(src)}, waiting(reason, err.Error())
	}
	// An unchanged source (each probe, each change of its fetches' outcome)
	// keeps the provider it has: its connections, and the document an HTTP
	// JSON source shares among the queries of a tick.
	p = r.Registry.Keep(key, inputs.sum(), p)
	r.Settled.settle(key)
	if changed := r.observeGeneration(src); changed {
		// New values or settings: evaluate the objectives that use it now.
		r.Engine.TriggerSource(key)
	}

	probeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Probe(probeCtx); err != nil {
		return ctrl.Result{RequeueAfter: r.backoff(src)}, waiting(providers.ReasonOf(err, cxv1.ReasonUnreachable), err.Error())
	}
	// The probe answered, but the objectives' fetches may not: a source that
	// cannot be reached, or refuses the credentials, on every fetch is not ready
	// whatever the probe says. Other fetch errors (an HTTP error status, a body
	// that is not JSON) fail the probe too when they come from the source; when
	// they do not, they belong to a query and show on its objective.
	if err := r.Fetches.failure(key); err != nil {
		switch reason := providers.ReasonOf(err, ""); reason {
		case cxv1.ReasonUnreachable, cxv1.ReasonUnauthorized, cxv1.ReasonBlockedAddress:
			return ctrl.Result{RequeueAfter: r.backoff(src)}, waiting(reason, err.Error())
		}
	}
	r.resetBackoff(src)
	return ctrl.Result{RequeueAfter: wait.Jitter(r.Options.ProbeInterval, 0.1)},
		ready(cxv1.ReasonSucceeded, "the "+providers.Kind(src.Spec)+" source answered the probe")
}

// probeTimeDue reports whether a successful probe at now refreshes lastProbeTime
// (last): always when there is none or the source was not ready, otherwise at most
// once per probe interval, so that reconciles between probes write nothing. The
// first probe of a process (fresh: a start or a failover) refreshes it only when
// the previous process missed a probe (last is older than the interval and its
// jitter); otherwise the next probe, one interval later, does: a restart writes
// nothing, and lastProbeTime is never more than about two intervals old.
func probeTimeDue(last *metav1.Time, wasReady bool, now time.Time, interval time.Duration, fresh bool) bool {
	if last == nil || !wasReady {
		return true
	}
	age := now.Sub(last.Time)
	if fresh {
		return age > interval+interval/10
	}
	return age >= interval/2
}

// knows reports whether this process has reconciled the source before.
func (r *SignalSourceReconciler) knows(k types.NamespacedName) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.seen[k]
	return ok
}

// observeGeneration reports whether this generation of the source is new to the
// registry.
func (r *SignalSourceReconciler) observeGeneration(src *cxv1.SignalSource) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[types.NamespacedName]int64{}
	}
	k := types.NamespacedName{Namespace: src.Namespace, Name: src.Name}
	if r.seen[k] == src.Generation {
		return false
	}
	r.seen[k] = src.Generation
	return true
}

func (r *SignalSourceReconciler) forget(key types.NamespacedName) {
	r.Fetches.forget(key.String())
	r.Requests.forget(key.String())
	r.Registry.Delete(key.String())
	r.Settled.forget(key.String())
	r.Engine.TriggerSource(key.String())
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failures, key)
	delete(r.seen, key)
}

// backoff doubles from 5s to 5m with each consecutive failure.
func (r *SignalSourceReconciler) backoff(src *cxv1.SignalSource) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures == nil {
		r.failures = map[types.NamespacedName]int{}
	}
	k := types.NamespacedName{Namespace: src.Namespace, Name: src.Name}
	n := r.failures[k]
	r.failures[k] = n + 1
	d := 5 * time.Second << min(n, 6)
	return wait.Jitter(min(d, 5*time.Minute), 0.1)
}

func (r *SignalSourceReconciler) resetBackoff(src *cxv1.SignalSource) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failures, types.NamespacedName{Namespace: src.Namespace, Name: src.Name})
}

// sourceLogger is the logger a source's provider writes the detail of failed calls
// to (V(1)), from probes and from the engine's queries alike.
func sourceLogger(src *cxv1.SignalSource) logr.Logger {
	return ctrl.Log.WithName("signalsource").WithValues("namespace", src.Namespace, "name", src.Name)
}

func readyIn(src *cxv1.SignalSource) bool {
	for _, c := range src.Status.Conditions {
		if c.Type == cxv1.ReadyCondition {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// SetupWithManager watches SignalSources (spec changes only), the Secrets they
// reference, and reconciles a source whose fetch outcome changed. The Secret
// informer is the manager's label-selected cache (see SecretCache): it sees only
// Secrets labelled for cxops, so labelling a Secret (an add event) or removing
// the label (a delete event) enqueues its sources.
func (r *SignalSourceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	bySecret, err := referrers(mgr.GetCache(), &cxv1.SignalSource{}, &cxv1.SignalSourceList{}, indexSourceSecrets)
	if err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&cxv1.SignalSource{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return bySecret(ctx, o.GetNamespace(), o.GetName())
		})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.Concurrency}).
		Named("signalsource")
	if r.Fetches != nil {
		b = b.WatchesRawSource(r.Fetches.queue.Source())
	}
	return b.Complete(r)
}

// fetchOutcomes is the latest failure of the engine's fetches of each source, as
// the engine's SourceOutcome hook reports it: one call per change (first
// failure, new cause, recovery), each enqueueing one reconcile of the source, so
// that Ready follows the fetches within one evaluation interval and a stable
// source causes no reconcile at all. The nil *fetchOutcomes knows nothing.
type fetchOutcomes struct {
	queue *queueSource
	mu    sync.Mutex
	err   map[string]error
}

func newFetchOutcomes(q *queueSource) *fetchOutcomes {
	return &fetchOutcomes{queue: q, err: map[string]error{}}
}

// observe is the engine's SourceOutcome hook: it records the outcome and asks for
// a reconcile of the source, without blocking.
func (f *fetchOutcomes) observe(source string, err error) {
	f.mu.Lock()
	if err != nil {
		f.err[source] = err
	} else {
		delete(f.err, source)
	}
	f.mu.Unlock()
	ns, name, ok := strings.Cut(source, "/")
	if !ok {
		return
	}
	f.queue.Enqueue(ctrlKey(ns, name))
}

// loadChanged is the engine's LoadChanged hook: the egress rate starts or stops
// stretching a source's intervals (or the stretch moved). It asks for a
// reconcile of the source, which reads the engine's Load, without blocking.
func (f *fetchOutcomes) loadChanged(source string) {
	if ns, name, ok := strings.Cut(source, "/"); ok {
		f.queue.Enqueue(ctrlKey(ns, name))
	}
}

// failure returns the failure of the engine's latest fetches of a source, nil if
// they succeed or nothing fetches it.
func (f *fetchOutcomes) failure(source string) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err[source]
}

func (f *fetchOutcomes) forget(source string) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.err, source)
}

// inputsDigest is a digest of what a provider is built from: the source's spec
// and the data of the Secrets it reads (the manager's provider options do not
// change while it runs).
type inputsDigest struct{ h hash.Hash }

func newInputsDigest(spec cxv1.SignalSourceSpec) *inputsDigest {
	d := &inputsDigest{h: sha256.New()}
	b, _ := json.Marshal(spec) // a spec always marshals
	d.field(b)
	return d
}

// secret adds a Secret's name and data, its keys in order.
func (d *inputsDigest) secret(name string, data map[string][]byte) {
	d.field([]byte(name))
	for _, k := range slices.Sorted(maps.Keys(data)) {
		d.field([]byte(k))
		d.field(data[k])
	}
}

// field adds one length-prefixed field, so that no two inputs run together.
func (d *inputsDigest) field(b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	d.h.Write(n[:])
	d.h.Write(b)
}

func (d *inputsDigest) sum() string { return string(d.h.Sum(nil)) }
