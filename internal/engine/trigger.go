package engine

import "container/heap"

// TriggerSource evaluates every group of a source now instead of at its next tick:
// the source's values or settings changed (a static value was patched, a Secret
// rotated, the source appeared or went away).
func (e *Engine) TriggerSource(source string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now()
	for k, g := range e.groups {
		if k.source != source || g.hidx < 0 || !now.Before(g.due) {
			continue
		}
		g.due = now
		heap.Fix(&e.heap, g.hidx)
	}
	e.kickLocked()
}

// Evaluations returns how many objective evaluations the engine has made.
func (e *Engine) Evaluations() uint64 { return e.evals.Load() }
