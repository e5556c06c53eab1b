package dashboard

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/flowcontrol"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// Topics a page listens to: the kinds whose changes it shows.
const (
	topicJourneys = "journeys"
	topicMoments  = "moments"
	topicTasks    = "tasks"
	topicStreams  = "streams"
)

// watched are the kinds the dashboard watches, by topic.
var watched = []struct {
	topic string
	list  func() client.ObjectList
}{
	{topicJourneys, func() client.ObjectList { return &cxv1.JourneyList{} }},
	{topicMoments, func() client.ObjectList { return &cxv1.MomentList{} }},
	{topicTasks, func() client.ObjectList { return &cxv1.RemediationTaskList{} }},
	{topicStreams, func() client.ObjectList { return &cxv1.RoadmapStreamList{} }},
}

// watchTopic lists then watches one kind as the user until ctx ends, and
// publishes its topic on every change. A watch that ends (the API server closes
// watches after a while, or the resource version expired) is started again from
// a new list, with a backoff on errors; a change missed in between is covered by
// publishing the topic after each new list. A user who may not list the kind
// gets a page that says so (the read fails there), and this loop backs off.
func (s *Server) watchTopic(ctx context.Context, topic string, newList func() client.ObjectList) {
	log := s.log.WithValues("topic", topic)
	backoff := flowcontrol.NewBackOff(time.Second, time.Minute)
	const key = "watch"
	first := true
	for ctx.Err() == nil {
		err := s.watchOnce(ctx, topic, newList, !first)
		first = false
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			backoff.Next(key, backoff.Clock.Now())
			delay := backoff.Get(key)
			log.V(1).Info("watch failed; retrying", "error", err.Error(), "after", delay)
			if apierrors.IsForbidden(err) {
				log.Info("the user may not watch this kind; its pages will not update live", "error", err.Error())
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			continue
		}
		backoff.Reset(key)
	}
}

// watchOnce lists (to learn the resource version), publishes the topic when
// asked (a watch was interrupted), then watches from that version until the
// watch ends. It returns nil when the watch simply ended.
func (s *Server) watchOnce(ctx context.Context, topic string, newList func() client.ObjectList, publish bool) error {
	list := newList()
	if err := s.client.List(ctx, list, append(s.listOptions(), client.Limit(1))...); err != nil {
		return err
	}
	if publish {
		s.hub.publish(topic)
	}
	rv := list.(metav1.ListInterface).GetResourceVersion()
	opts := append(s.listOptions(), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
	w, err := s.client.Watch(ctx, newList(), opts...)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			switch ev.Type {
			case watch.Bookmark:
			case watch.Error:
				return apierrors.FromObject(ev.Object)
			default:
				s.hub.publish(topic)
			}
		}
	}
}

// hub fans topics out to the event streams of the pages, coalescing bursts: a
// client that has not read its last notification yet gets the new topics added
// to it, so a slow page never blocks the watches, and never queues more than one
// notification.
type hub struct {
	mu      sync.Mutex
	clients map[*subscriber]struct{}
	max     int
}

// subscriber is one page's event stream.
type subscriber struct {
	mu      sync.Mutex
	pending map[string]bool
	wake    chan struct{}
}

func newHub(maxClients int) *hub {
	return &hub{clients: map[*subscriber]struct{}{}, max: maxClients}
}

// subscribe adds a client; false when there are already max clients.
func (h *hub) subscribe() (*subscriber, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) >= h.max {
		return nil, false
	}
	sub := &subscriber{pending: map[string]bool{}, wake: make(chan struct{}, 1)}
	h.clients[sub] = struct{}{}
	return sub, true
}

func (h *hub) unsubscribe(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, sub)
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

func (h *hub) publish(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.clients {
		sub.mu.Lock()
		sub.pending[topic] = true
		sub.mu.Unlock()
		select {
		case sub.wake <- struct{}{}:
		default:
		}
	}
}

// take returns the pending topics and clears them.
func (sub *subscriber) take() []string {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	var topics []string
	for _, t := range []string{topicJourneys, topicMoments, topicTasks, topicStreams} {
		if sub.pending[t] {
			topics = append(topics, t)
		}
	}
	clear(sub.pending)
	return topics
}
