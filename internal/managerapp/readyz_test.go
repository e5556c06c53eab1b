package managerapp

import (
	"context"
	"net/http/httptest"
	"testing"
)

type syncState bool

func (s syncState) WaitForCacheSync(ctx context.Context) bool {
	if !s {
		<-ctx.Done()
	}
	return bool(s)
}

// Issue 11, observation 1: while an informer could not list its kind, /readyz
// said 200. The informers check fails until the caches are synced.
func TestReadyzFailsWhileCachesAreNotSynced(t *testing.T) {
	req := httptest.NewRequest("GET", "/readyz", nil)
	if err := cachesSynced(syncState(false))(req); err == nil {
		t.Fatal("an unsynced cache must fail the readiness check")
	}
	if err := cachesSynced(syncState(true))(req); err != nil {
		t.Fatalf("a synced cache must pass: %v", err)
	}
}
