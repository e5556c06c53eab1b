package controllers

import (
	"context"
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
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

// namespacedIndexer indexes fields of namespaced kinds as a client.FieldIndexer
// of the cache does, under the same index name ("field:" + field) and keys
// ("namespace/value"), so that a List with InNamespace and MatchingFields finds
// them, but without the second, cluster-wide key controller-runtime adds for
// every value ("__all_namespaces/value"): references are same-namespace, so cxops
// only ever lists in one namespace, and that key held each Moment a second time in
// each index (about 1.2 MB at 10,000 Moments). A List by field without a
// namespace finds nothing (TestIndexesAreNamespaced).
type namespacedIndexer struct {
	informers cache.Informers
}

func (n namespacedIndexer) IndexField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error {
	inf, err := n.informers.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	return inf.AddIndexers(toolscache.Indexers{indexName(field): func(raw any) ([]string, error) {
		o, ok := raw.(client.Object)
		if !ok {
			return nil, fmt.Errorf("indexing %s: %T is not an object", field, raw)
		}
		vals := extract(o)
		keys := make([]string, len(vals))
		for i, v := range vals {
			keys[i] = indexKey(o.GetNamespace(), v)
		}
		return keys, nil
	}})
}

// indexName and indexKey are the names and keys of controller-runtime's field
// indexes, which a List with InNamespace and MatchingFields reads.
func indexName(field string) string { return "field:" + field }

func indexKey(ns, value string) string { return ns + "/" + value }

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

// referrers returns a function that finds the objects of obj's kind whose index
// field holds a value in a namespace, as reconcile requests. It reads the
// informer's own index: a List by field (the client's way) builds a list object,
// looks up the kind and copies every item into the list on each call, about 12 %
// of the manager's allocations while 10,000 moments converged, since a moment's
// change looks up the streams and the tasks that refer to it.
func referrers(c cache.Cache, obj client.Object, list client.ObjectList, field string) (func(ctx context.Context, ns, value string) []reconcile.Request, error) {
	inf, err := c.GetInformer(context.Background(), obj, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, err
	}
	shared, ok := inf.(toolscache.SharedIndexInformer)
	if !ok {
		// With --watch-namespaces (even one), the cache has an informer per
		// namespace behind one that is not indexed: list through it.
		return func(ctx context.Context, ns, value string) []reconcile.Request {
			return listReferrers(ctx, c, list, ns, field, value)
		}, nil
	}
	indexer, name := shared.GetIndexer(), indexName(field)
	return func(ctx context.Context, ns, value string) []reconcile.Request {
		objs, err := indexer.ByIndex(name, indexKey(ns, value))
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "looking up referrers", "kind", fmt.Sprintf("%T", obj), "index", field, "value", value)
			return nil
		}
		if len(objs) == 0 {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(objs))
		for _, o := range objs {
			if m, ok := o.(metav1.Object); ok {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()}})
			}
		}
		return reqs
	}, nil
}

// listReferrers is referrers through a List by field, for caches whose informers
// are not indexed themselves. It reads only the keys: the cache's own objects,
// not copies.
func listReferrers(ctx context.Context, c client.Reader, proto client.ObjectList, ns, field, value string) []reconcile.Request {
	list := proto.DeepCopyObject().(client.ObjectList)
	if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingFields{field: value}, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "looking up referrers", "kind", fmt.Sprintf("%T", list), "index", field, "value", value)
		return nil
	}
	var reqs []reconcile.Request
	_ = apimeta.EachListItem(list, func(o runtime.Object) error {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o.(client.Object))})
		return nil
	})
	return reqs
}
