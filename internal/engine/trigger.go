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

// TriggerOwner evaluates the groups of owner's objectives now instead of at their
// next tick: a person asked for it (the reconcile request annotation).
func (e *Engine) TriggerOwner(owner Owner) {
	e.mu.Lock()
	defer e.mu.Unlock()
	oe := e.owners[owner]
	if oe == nil {
		return
	}
	now := e.clock.Now()
	for _, o := range oe.objs {
		if g := o.group; g != nil && g.hidx >= 0 && now.Before(g.due) {
			g.due = now
			heap.Fix(&e.heap, g.hidx)
		}
	}
	e.kickLocked()
}
