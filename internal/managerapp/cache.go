package managerapp

import (
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/cxops/cxops/controllers"
)

// cacheOptions keeps the informer caches lean and free of what cxops may not hold:
// managed fields are dropped from every cached object (nothing here reads them,
// and they are most of an object's size), and Secrets are cached only when
// labelled cx.cxops.io/usable-by=cxops, without kubectl's last-applied
// annotation (see controllers.SecretCache). No other Secret, nor its metadata, is
// listed, watched or cached.
func cacheOptions(syncPeriod time.Duration) cache.Options {
	return cache.Options{
		SyncPeriod:       &syncPeriod,
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject:         controllers.CacheByObject(),
	}
}
