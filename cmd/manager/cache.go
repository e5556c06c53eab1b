package main

import (
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// cacheOptions keeps the informer caches lean: managed fields are dropped from
// every cached object (nothing here reads them), which is most of an object's size.
func cacheOptions(syncPeriod time.Duration) cache.Options {
	return cache.Options{
		SyncPeriod:       &syncPeriod,
		DefaultTransform: cache.TransformStripManagedFields(),
	}
}
