package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// TestIndexesAreNamespaced: the field indexes hold each object once per value,
// under its namespace's key only, and a List in a namespace by field (as the
// controllers make it, through controller-runtime's cache reader) finds exactly
// the objects of that namespace. It fails if controller-runtime changes its
// index names or keys.
func TestIndexesAreNamespaced(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := cache.New(env.Config, cache.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(setupIndexes(ctx, namespacedIndexer{c})).To(Succeed())
	go func() { _ = c.Start(ctx) }()

	a, b := newNamespace(t), newNamespace(t)
	for _, ns := range []string{a, b} {
		g.Expect(k8sClient.Create(ctx, moment(ns, "checkout", "shop", "order", objective("stock", "figures", "stock", "99")))).To(Succeed())
	}
	g.Expect(k8sClient.Create(ctx, moment(a, "other", "elsewhere", "order", objective("stock", "figures", "stock", "99")))).To(Succeed())
	waitCtx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	g.Expect(c.WaitForCacheSync(waitCtx)).To(BeTrue())

	names := func(ns, field, value string) []string {
		var list cxv1.MomentList
		g.Expect(c.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{field: value})).To(Succeed())
		var out []string
		for _, m := range list.Items {
			out = append(out, m.Namespace+"/"+m.Name)
		}
		return out
	}
	g.Eventually(func() []string { return names(a, indexMomentJourney, "shop") }).Should(ConsistOf(a + "/checkout"))
	g.Eventually(func() []string { return names(a, indexMomentSources, "figures") }).Should(ConsistOf(a+"/checkout", a+"/other"))
	g.Eventually(func() []string { return names(b, indexMomentJourney, "shop") }).Should(ConsistOf(b + "/checkout"))

	inf, err := c.GetInformer(ctx, &cxv1.Moment{})
	g.Expect(err).NotTo(HaveOccurred())
	idx := inf.(toolscache.SharedIndexInformer).GetIndexer()
	// The cache holds the other tests' Moments too: only these namespaces count.
	var keys []string
	for _, k := range idx.ListIndexFuncValues("field:" + indexMomentJourney) {
		g.Expect(k).NotTo(HavePrefix("__all_namespaces/"), "no cluster-wide key")
		if strings.HasPrefix(k, a+"/") || strings.HasPrefix(k, b+"/") {
			keys = append(keys, k)
		}
	}
	g.Expect(keys).To(ConsistOf(a+"/shop", b+"/shop", a+"/elsewhere"), "one key per namespace and value")

	// referrers reads the same index as the List: the same objects, as requests.
	bySource, err := referrers(c, &cxv1.Moment{}, &cxv1.MomentList{}, indexMomentSources)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bySource(ctx, a, "figures")).To(ConsistOf(
		reconcile.Request{NamespacedName: types.NamespacedName{Namespace: a, Name: "checkout"}},
		reconcile.Request{NamespacedName: types.NamespacedName{Namespace: a, Name: "other"}}))
	g.Expect(bySource(ctx, b, "figures")).To(ConsistOf(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: b, Name: "checkout"}}))
	g.Expect(bySource(ctx, b, "nothing")).To(BeEmpty())
	// An index that was never registered is an error in the log, not a panic.
	unknown, err := referrers(c, &cxv1.Moment{}, &cxv1.MomentList{}, "cx.cxops.io/unknown")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(unknown(ctx, a, "figures")).To(BeEmpty())
}

// TestReferrersWithWatchNamespaces: a cache of several namespaces
// (--watch-namespaces) has no indexed informer of its own; referrers lists
// through it and finds the same objects.
func TestReferrersWithWatchNamespaces(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := newNamespace(t), newNamespace(t)
	c, err := cache.New(env.Config, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{a: {}, b: {}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(setupIndexes(ctx, namespacedIndexer{c})).To(Succeed())
	byJourney, err := referrers(c, &cxv1.Moment{}, &cxv1.MomentList{}, indexMomentJourney)
	g.Expect(err).NotTo(HaveOccurred())
	go func() { _ = c.Start(ctx) }()

	for _, ns := range []string{a, b} {
		g.Expect(k8sClient.Create(ctx, moment(ns, "checkout", "shop", "order", objective("stock", "figures", "stock", "99")))).To(Succeed())
	}
	waitCtx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	g.Expect(c.WaitForCacheSync(waitCtx)).To(BeTrue())
	g.Eventually(func() []reconcile.Request { return byJourney(ctx, b, "shop") }).Should(ConsistOf(
		reconcile.Request{NamespacedName: types.NamespacedName{Namespace: b, Name: "checkout"}}))
	g.Expect(byJourney(ctx, a, "elsewhere")).To(BeEmpty())
}
