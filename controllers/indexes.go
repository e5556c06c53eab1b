package controllers

import (
	"context"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/providers"
)

// Field indexes: which objects reference which, so that a change to one enqueues the
// others without listing a whole namespace.
const (
	indexSourceSecrets  = "cx.cxops.io/secrets"
	indexMomentJourney  = "cx.cxops.io/journey"
	indexMomentSources  = "cx.cxops.io/sources"
	indexMomentStream   = "cx.cxops.io/stream"
	indexJourneySources = "cx.cxops.io/sources"
	indexTaskMoment     = "cx.cxops.io/moment"
	indexTaskStream     = "cx.cxops.io/stream"
)

func setupIndexes(ctx context.Context, idx client.FieldIndexer) error {
	indexes := []struct {
		obj     client.Object
		field   string
		extract client.IndexerFunc
	}{
		{&cxv1.SignalSource{}, indexSourceSecrets, func(o client.Object) []string {
			return providers.SecretNames(o.(*cxv1.SignalSource).Spec)
		}},
		{&cxv1.Moment{}, indexMomentJourney, func(o client.Object) []string {
			return []string{o.(*cxv1.Moment).Spec.JourneyRef.Name}
		}},
		{&cxv1.Moment{}, indexMomentSources, func(o client.Object) []string {
			return sourceNames(o.(*cxv1.Moment).Spec.Objectives)
		}},
		{&cxv1.Moment{}, indexMomentStream, func(o client.Object) []string {
			if rem := o.(*cxv1.Moment).Spec.Remediation; rem != nil && rem.StreamRef.Name != "" {
				return []string{rem.StreamRef.Name}
			}
			return nil
		}},
		{&cxv1.Journey{}, indexJourneySources, func(o client.Object) []string {
			return sourceNames(o.(*cxv1.Journey).Spec.Objectives)
		}},
		{&cxv1.RemediationTask{}, indexTaskMoment, func(o client.Object) []string {
			return []string{o.(*cxv1.RemediationTask).Spec.MomentRef.Name}
		}},
		{&cxv1.RemediationTask{}, indexTaskStream, func(o client.Object) []string {
			if ref := o.(*cxv1.RemediationTask).Spec.StreamRef; ref.Name != "" {
				return []string{ref.Name}
			}
			return nil
		}},
	}
	for _, i := range indexes {
		if err := idx.IndexField(ctx, i.obj, i.field, i.extract); err != nil {
			return err
		}
	}
	return nil
}

func sourceNames(objs []cxv1.Objective) []string {
	seen := make(map[string]struct{}, len(objs))
	out := make([]string, 0, 1)
	for _, o := range objs {
		n := o.Signal.SourceRef.Name
		if _, ok := seen[n]; !ok {
			seen[n] = struct{}{}
			out = append(out, n)
		}
	}
	return out
}

// requestsFor lists objects of list's kind in the namespace whose index field holds
// value, as reconcile requests. It reads only their keys: the cache's own objects,
// not copies (a source used by 5,000 moments would be 10 MB of garbage per call).
func requestsFor(ctx context.Context, c client.Reader, list client.ObjectList, ns, field, value string) []reconcile.Request {
	if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingFields{field: value}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	_ = apimeta.EachListItem(list, func(o runtime.Object) error {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o.(client.Object))})
		return nil
	})
	return reqs
}
