package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/cxops/cxops/internal/engine"
	"github.com/cxops/cxops/internal/notify"
	"github.com/cxops/cxops/internal/providers"
)

// System is what Setup wires into a manager: the provider registry, the evaluation
// engine and the reconcilers. Tests use it to reach the engine.
type System struct {
	Registry *providers.Registry
	Engine   *engine.Engine
	Options  Options
}

// Setup adds the cxops indexes, the evaluation engine (leader only) and one
// reconciler per kind to the manager.
func Setup(mgr ctrl.Manager, opts Options) (*System, error) {
	opts = opts.withDefaults()
	if err := setupIndexes(context.Background(), namespacedIndexer{mgr.GetCache()}); err != nil {
		return nil, err
	}
	moments, journeys, tasks := newQueueSource(opts.Clock), newQueueSource(opts.Clock), newQueueSource(opts.Clock)
	fetches := newFetchOutcomes(newQueueSource(opts.Clock))
	registry := providers.NewRegistry()
	notifyOwner := func(o engine.Owner) {
		key := ctrlKey(o.Namespace, o.Name)
		switch o.Kind {
		case "Moment":
			moments.Enqueue(key)
		case "Journey":
			journeys.Enqueue(key)
		}
	}
	settling := newSourceSettling(opts.Clock, sourceSettleGrace, notifyOwner)
	eng := engine.New(engine.Options{
		Clock:      opts.Clock,
		Providers:  registry,
		Registerer: opts.Registerer,
		Jitter:     opts.Jitter,
		Logger:     mgr.GetLogger().WithName("engine"),
		// A source's Ready condition follows the fetches: the engine reports
		// each change of their outcome, the SignalSource controller re-checks.
		SourceOutcome: fetches.observe,
		// RateLimited on a source follows the egress load of its schedule.
		LoadChanged: fetches.loadChanged,
		Notify:      notifyOwner,
	})
	if err := mgr.Add(eng); err != nil {
		return nil, err
	}
	// Runs only while this replica leads: says so in the logs when it starts
	// leading and when it stops.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		log := ctrl.Log.WithName("leader")
		log.Info("leading: evaluating signals and reconciling")
		<-ctx.Done()
		log.Info("no longer leading (leadership lost or shutting down): evaluation stopped")
		return nil
	})); err != nil {
		return nil, err
	}
	recorder := mgr.GetEventRecorder("cxops")
	grace := newGraceTracker(opts.ReferenceGrace)
	metrics := newTaskMetrics(opts.Registerer, mgr.GetClient(), mgr.Elected())
	sender := notify.NewSender(notify.Options{Policy: opts.Egress, Limiter: opts.Providers.Limiter})

	reconcilers := []interface{ SetupWithManager(ctrl.Manager) error }{
		&SignalSourceReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Registry: registry, Engine: eng, Options: opts, Fetches: fetches, Recorder: recorder, Requests: newSourceRequests(opts.Registerer), Settled: settling, grace: grace},
		&MomentReconciler{Client: mgr.GetClient(), Engine: eng, Recorder: recorder, Options: opts, Notifications: moments, Sources: settling, grace: grace},
		&JourneyReconciler{Client: mgr.GetClient(), Engine: eng, Options: opts, Notifications: journeys, Metrics: metrics, Sources: settling, grace: grace},
		&RoadmapStreamReconciler{Client: mgr.GetClient(), Options: opts, grace: grace},
		&RemediationTaskReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Options: opts, Sender: sender, Metrics: metrics, Deadlines: tasks},
	}
	for _, r := range reconcilers {
		if err := r.SetupWithManager(mgr); err != nil {
			return nil, err
		}
	}
	return &System{Registry: registry, Engine: eng, Options: opts}, nil
}
