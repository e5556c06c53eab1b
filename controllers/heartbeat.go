package controllers

import (
	"hash/fnv"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// heartbeatPhase is an object's stable place within the heartbeat period: a hash
// of its namespace, name and uid. Heartbeats fall on the instants t with
// t ≡ phase (mod period) (Unix time), so that moments created or restarted all
// at once spread their heartbeat writes evenly over the period instead of
// writing in a burst one period later; the phase survives restarts and
// failovers, because it depends on nothing but the object.
func heartbeatPhase(namespace, name string, uid types.UID, period time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(namespace))
	_, _ = h.Write([]byte{'/'})
	_, _ = h.Write([]byte(name))
	_, _ = h.Write([]byte{'/'})
	_, _ = h.Write([]byte(uid))
	return time.Duration(h.Sum64() % uint64(period))
}

// nextHeartbeat is when the heartbeat after a status write at last is due: the
// first instant of the object's phase at least half a period after last. A
// heartbeat written on time is followed by the next exactly one period later; a
// write at another time (a transition) moves the next heartbeat by at most half
// a period either way, never closer than half a period.
func nextHeartbeat(last time.Time, phase, period time.Duration) time.Time {
	earliest := last.Add(period / 2)
	// The offset of earliest within the grid of this phase, in [0, period).
	off := (time.Duration(earliest.UnixNano()%int64(period)) - phase) % period
	if off < 0 {
		off += period
	}
	if off == 0 {
		return earliest
	}
	return earliest.Add(period - off)
}
