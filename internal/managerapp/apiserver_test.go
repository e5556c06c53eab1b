package managerapp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/rest"
)

// An API server that is down for the first tries (a control-plane upgrade while
// the manager starts) is waited for, and each failed try is logged.
func TestWaitForAPIServerRetriesUntilItAnswers(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.2"}`))
	}))
	defer srv.Close()
	var logged []string
	log := funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{})
	if err := WaitForAPIServer(context.Background(), log, &rest.Config{Host: srv.URL}, time.Minute); err != nil {
		t.Fatalf("WaitForAPIServer: %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d tries, want 3", n)
	}
	joined := strings.Join(logged, "\n")
	if strings.Count(joined, "the API server does not answer yet; retrying") != 2 || !strings.Contains(joined, `"host"`) {
		t.Errorf("logs:\n%s", joined)
	}
}

// One that stays down ends the wait with an error naming it, after maxWait.
func TestWaitForAPIServerGivesUp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	began := time.Now()
	err := WaitForAPIServer(context.Background(), funcr.New(func(string, string) {}, funcr.Options{}), &rest.Config{Host: srv.URL}, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "did not answer within --api-server-wait=2s") || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(began); took < 2*time.Second || took > 10*time.Second {
		t.Errorf("gave up after %s, want about 2s", took)
	}
}
