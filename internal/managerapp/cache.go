package managerapp

import (
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/cxops/cxops/controllers"
)

// cacheOptions keeps the informer caches lean and free of what cxops may not hold:
// managed fields and kubectl's last-applied-configuration annotation are dropped
// from every cached object (nothing here reads them, and they are most of an
// object's size; see controllers.CacheTransform), and Secrets are cached only when
// labelled cx.cxops.io/usable-by=cxops, without kubectl's last-applied
// annotation (see controllers.SecretCache). No other Secret, nor its metadata, is
// listed, watched or cached.
//
// With namespaces, every informer lists and watches only those namespaces (the
// --watch-namespaces mode, where the manager's rules are Roles in each of them).
func cacheOptions(syncPeriod time.Duration, namespaces []string) cache.Options {
	o := cache.Options{
		SyncPeriod:       &syncPeriod,
		DefaultTransform: controllers.CacheTransform(),
		ByObject:         controllers.CacheByObject(),
	}
	if len(namespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o
}
