package notify

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// DispatcherOptions configure a Dispatcher.
type DispatcherOptions struct {
	// Workers is how many jobs run at once (default 8).
	Workers int
	// PerHost is how many of them may call one host at once (default
	// max(1, Workers/4)), so that a sink that hangs holds at most PerHost workers
	// and every other host keeps being served.
	PerHost int
}

// Job is one unit of delivery work: Key identifies it (a job is queued at most
// once, and never runs twice at the same time), Host is the host:port it calls,
// for fairness.
type Job struct {
	Key  string
	Host string
}

// RunFunc does a job. It returns how long to wait before the job runs again
// (a retry after a failure), or 0 when nothing is left to do.
type RunFunc func(ctx context.Context, key string) time.Duration

// Dispatcher runs delivery jobs on a bounded pool of workers, off the reconcile
// loop. Jobs of one host run at most PerHost at a time; among the jobs that may
// run, the oldest queued goes first. A job added while it runs runs once more
// after it returns. It implements controller-runtime's Runnable and
// LeaderElectionRunnable: only the leader delivers.
type Dispatcher struct {
	run     RunFunc
	workers int
	perHost int

	mu       sync.Mutex
	cond     *sync.Cond // broadcast when a job is queued, a slot frees or the dispatcher stops
	ready    *list.List // of Job, oldest first
	queued   map[string]*list.Element
	running  map[string]bool
	again    map[string]Job // added while running
	inflight map[string]int // per host
	timers   map[string]*time.Timer
	stopped  bool
}

// NewDispatcher returns a Dispatcher that runs jobs with run.
func NewDispatcher(opts DispatcherOptions, run RunFunc) *Dispatcher {
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.PerHost <= 0 {
		opts.PerHost = max(1, opts.Workers/4)
	}
	d := &Dispatcher{
		run: run, workers: opts.Workers, perHost: min(opts.PerHost, opts.Workers),
		ready:  list.New(),
		queued: map[string]*list.Element{}, running: map[string]bool{}, again: map[string]Job{},
		inflight: map[string]int{}, timers: map[string]*time.Timer{},
	}
	d.cond = sync.NewCond(&d.mu)
	return d
}

// NeedLeaderElection says that only the leader delivers.
func (d *Dispatcher) NeedLeaderElection() bool { return true }

// Add queues a job now. A job already queued keeps its place, and a job waiting
// for its retry keeps waiting (its RunFunc decided when).
func (d *Dispatcher) Add(j Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addLocked(j)
}

func (d *Dispatcher) addLocked(j Job) {
	if d.stopped {
		return
	}
	if _, ok := d.timers[j.Key]; ok {
		return // waiting for its retry: a retry is not hurried
	}
	if d.running[j.Key] {
		d.again[j.Key] = j
		return
	}
	if _, ok := d.queued[j.Key]; ok {
		return
	}
	d.queued[j.Key] = d.ready.PushBack(j)
	d.cond.Broadcast()
}

// AddAfter queues a job once after has passed, unless it is queued or running
// before then.
func (d *Dispatcher) AddAfter(j Job, after time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped || d.running[j.Key] {
		return
	}
	if _, ok := d.queued[j.Key]; ok {
		return
	}
	if t, ok := d.timers[j.Key]; ok {
		t.Stop()
	}
	d.timers[j.Key] = time.AfterFunc(after, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.timers, j.Key)
		d.addLocked(j)
	})
}

// Len is the number of jobs queued, running or waiting for a retry.
func (d *Dispatcher) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queued) + len(d.running) + len(d.timers)
}

// next waits for the oldest queued job whose host has a free slot; false once
// the dispatcher stops.
func (d *Dispatcher) next() (Job, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for !d.stopped {
		for e := d.ready.Front(); e != nil; e = e.Next() {
			j := e.Value.(Job)
			if d.inflight[j.Host] >= d.perHost {
				continue
			}
			d.ready.Remove(e)
			delete(d.queued, j.Key)
			d.running[j.Key] = true
			d.inflight[j.Host]++
			return j, true
		}
		d.cond.Wait()
	}
	return Job{}, false
}

func (d *Dispatcher) finish(j Job, retry time.Duration) {
	d.mu.Lock()
	delete(d.running, j.Key)
	d.inflight[j.Host]--
	if d.inflight[j.Host] <= 0 {
		delete(d.inflight, j.Host)
	}
	again, ok := d.again[j.Key]
	delete(d.again, j.Key)
	d.mu.Unlock()
	switch {
	case ok:
		d.Add(again)
	case retry > 0:
		d.AddAfter(j, retry)
	}
	// A host slot is free: a job that waited for it may run now.
	d.cond.Broadcast()
}

// Start runs the workers until ctx is done, then waits for running jobs (their
// context is cancelled).
func (d *Dispatcher) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range d.workers {
		wg.Go(func() {
			for {
				j, ok := d.next()
				if !ok {
					return
				}
				d.finish(j, d.run(ctx, j.Key))
			}
		})
	}
	<-ctx.Done()
	d.mu.Lock()
	d.stopped = true
	for k, t := range d.timers {
		t.Stop()
		delete(d.timers, k)
	}
	d.cond.Broadcast()
	d.mu.Unlock()
	wg.Wait()
	return nil
}
