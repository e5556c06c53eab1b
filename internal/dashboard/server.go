// Package dashboard is `kubectl cx dashboard`: a web UI on localhost that shows
// the journeys, the journey map with its service blueprint, the remediation
// tasks and the roadmap streams of a cluster running cxops, live.
//
// It runs on the user's machine with the user's kubeconfig: every read and the
// one write (acknowledging a task, a merge patch of spec.acknowledged, exactly
// what `kubectl cx ack` does) are the user's own requests, so the cluster's RBAC
// applies and nothing new runs in the cluster. Pages are rendered on the server
// with html/template (everything escaped); a small script listens to a
// server-sent event stream fed by watches on the API server and re-fetches the
// part of the page that changed. Every asset is embedded; nothing is loaded
// from anywhere else.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cxops/cxops/internal/plugin"
	"github.com/cxops/cxops/internal/textutil"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Defaults of the command and the server.
const (
	DefaultAddress    = "127.0.0.1"
	DefaultPort       = 3100
	DefaultMaxClients = 32
	// heartbeat is how often an idle event stream sends a comment, so that a
	// dead connection is noticed and proxies keep it open.
	heartbeat = 15 * time.Second
	// readTimeout bounds one page's reads from the API server.
	readTimeout = 15 * time.Second
)

// Options configure a Server.
type Options struct {
	// Client reads and watches as the user (the plugin's kubeconfig).
	Client client.WithWatch
	// Namespace to show; "" for every namespace.
	Namespace string
	// Log receives failures and transitions.
	Log logr.Logger
	// MaxClients bounds the open event streams (pages); DefaultMaxClients when 0.
	MaxClients int
	// Hosts are more host names the server answers to besides loopback ones:
	// the --address when it is not a loopback address.
	Hosts []string
	// Now is the clock of the pages (ages); time.Now when nil.
	Now func() time.Time
}

// Server serves the dashboard. Create it with New, run its watches with Watch
// and serve Handler; Run does both on a listener.
type Server struct {
	client     client.WithWatch
	namespace  string
	log        logr.Logger
	now        func() time.Time
	token      string
	extraHosts []string
	hub        *hub
	access     *accessCache
	pages      map[string]*template.Template
	mux        *http.ServeMux
}

// New returns a server; it does not start anything.
func New(o Options) (*Server, error) {
	if o.Client == nil {
		return nil, errors.New("dashboard: no client")
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		client: o.Client, namespace: o.Namespace, log: o.Log, now: o.Now,
		token: newToken(), extraHosts: o.Hosts, hub: newHub(o.MaxClients),
		access: &accessCache{client: o.Client, log: o.Log, ttl: 30 * time.Second, now: o.Now, answers: map[string]accessAnswer{}},
	}
	var err error
	if s.pages, err = parsePages(s.funcs()); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// Token is the process's CSRF token (for tests and scripts that POST).
func (s *Server) Token() string { return s.token }

// Handler serves the pages, the fragments, the event stream and the assets.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Watch watches the cxops kinds as the user until ctx ends and notifies the
// pages of changes.
func (s *Server) Watch(ctx context.Context) {
	var wg sync.WaitGroup
	for _, w := range watched {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.watchTopic(ctx, w.topic, w.list)
		}()
	}
	wg.Wait()
}

// Run serves on l until ctx ends, then shuts down: open event streams end,
// requests in flight get a few seconds to finish.
func (s *Server) Run(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := s.httpServer(ctx)
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		s.Watch(ctx)
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
		// The event streams watch ctx (the base context) and end now.
		shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(shutdownCtx)
		stop()
		if err != nil {
			_ = srv.Close()
		}
	}
	cancel()
	<-watching
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// httpServer is the server Run serves with; its requests' contexts derive from
// ctx, so that ending ctx ends the event streams. A client gets 10 seconds to
// send a request's header (slowloris), an idle keep-alive connection is closed
// after two minutes, and a header is at most 64 KiB (a giant query string is
// refused before it reaches a handler). There is no read or write timeout: an
// event stream is a long response, and the one request with a body (acknowledge)
// reads at most 4 KiB of it.
func (s *Server) httpServer(ctx context.Context) *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleJourneys)
	mux.HandleFunc("GET /journeys/{namespace}/{name}", s.handleMap)
	mux.HandleFunc("GET /tasks", s.handleTasks)
	mux.HandleFunc("POST /tasks/{namespace}/{name}/acknowledge", s.handleAcknowledge)
	mux.HandleFunc("GET /streams", s.handleStreams)
	mux.HandleFunc("GET /events", s.handleEvents)
	assets, _ := fs.Sub(assetFS, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	s.mux = mux
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if !s.hostAllowed(r.Host) {
		http.Error(w, "this dashboard answers only to localhost", http.StatusMisdirectedRequest)
		return
	}
	if crossSite(r) {
		http.Error(w, "refused: the request comes from another site", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// page is what the layout and every page's content render.
type page struct {
	Title string
	// Nav is the current navigation item.
	Nav string
	// Topics the content depends on, for the page's script.
	Topics string
	Token  string
	// Large is the large-text mode (?large=1), for wall screens.
	Large bool
	// Namespace shown; "" for every namespace.
	Namespace string
	// Error is why the content could not be read (the user's RBAC, usually).
	Error string
	Data  any
}

// render writes the page, or only its content for the script's re-fetch
// (header X-CX-Fragment: 1).
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, status int, p page) {
	p.Token, p.Namespace = s.token, s.namespace
	p.Large = r.URL.Query().Get("large") == "1"
	t := s.pages[name]
	entry := "layout"
	if r.Header.Get("X-CX-Fragment") == "1" {
		entry = "content"
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, entry, p); err != nil {
		s.log.Error(err, "rendering a page", "page", name)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Vary", "X-CX-Fragment")
	w.WriteHeader(status)
	// Control and bidi characters of user text are shown as U+FFFD; the
	// templates hold none (textutil.Neutralize).
	_, _ = fmt.Fprint(w, textutil.Neutralize(buf.String()))
}

// readError turns an API error into a status code and a message for the page.
func readError(err error, what string) (int, string) {
	switch {
	case apierrors.IsForbidden(err):
		return http.StatusForbidden, fmt.Sprintf("You may not read %s: %s", what, apierrors.ReasonForError(err))
	case apierrors.IsNotFound(err):
		return http.StatusNotFound, fmt.Sprintf("%s not found", what)
	}
	return http.StatusBadGateway, fmt.Sprintf("Reading %s failed: %v", what, err)
}

func (s *Server) handleJourneys(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	p := page{Title: "Journeys", Nav: "journeys", Topics: strings.Join([]string{topicJourneys, topicTasks, topicMoments}, " ")}
	v, err := s.journeys(ctx)
	status := http.StatusOK
	if err != nil {
		status, p.Error = readError(err, "journeys")
		s.log.Info("reading journeys failed", "error", err.Error())
	}
	p.Data = v
	s.render(w, r, "journeys", status, p)
}

func (s *Server) handleMap(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	p := page{Title: name, Nav: "journeys", Topics: strings.Join([]string{topicJourneys, topicMoments, topicTasks}, " ")}
	status := http.StatusOK
	if s.namespace != "" && ns != s.namespace {
		status, p.Error = http.StatusNotFound, fmt.Sprintf("journey %s/%s is not in the namespace this dashboard shows (%s)", ns, name, s.namespace)
	} else if v, err := s.journeyMap(ctx, ns, name); err != nil {
		status, p.Error = readError(err, fmt.Sprintf("journey %s/%s", ns, name))
		if status != http.StatusNotFound {
			s.log.Info("reading a journey map failed", "namespace", ns, "name", name, "error", err.Error())
		}
	} else {
		p.Data = v
	}
	s.render(w, r, "map", status, p)
}

func (s *Server) handleTasks(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	q := r.URL.Query()
	f := taskFilter{Team: q.Get("team"), Severity: q.Get("severity"), Phase: q.Get("phase")}
	p := page{Title: "Remediation tasks", Nav: "tasks", Topics: topicTasks}
	v, err := s.tasks(ctx, f)
	status := http.StatusOK
	if err != nil {
		status, p.Error = readError(err, "remediation tasks")
		s.log.Info("reading tasks failed", "error", err.Error())
		v = &tasksView{Filter: f}
	}
	p.Data = v
	s.render(w, r, "tasks", status, p)
}

func (s *Server) handleStreams(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	p := page{Title: "Roadmap", Nav: "streams", Topics: topicStreams}
	v, err := s.streams(ctx)
	status := http.StatusOK
	if err != nil {
		status, p.Error = readError(err, "roadmap streams")
		s.log.Info("reading roadmap streams failed", "error", err.Error())
	}
	p.Data = v
	s.render(w, r, "streams", status, p)
}

// handleAcknowledge acknowledges a task as the user: only a same-origin POST
// with the process's token, only for a user the API server allows to patch
// tasks there (checked first, and enforced by the API server on the patch).
func (s *Server) handleAcknowledge(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	if !s.originAllowed(r) {
		http.Error(w, "refused: the request does not come from this dashboard", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	token := r.Header.Get(csrfHeader)
	if token == "" {
		token = r.PostFormValue(csrfField)
	}
	if !validToken(token, s.token) {
		http.Error(w, "refused: missing or wrong dashboard token; reload the page", http.StatusForbidden)
		return
	}
	if s.namespace != "" && ns != s.namespace {
		http.Error(w, "refused: the task is not in the namespace this dashboard shows", http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	log := s.log.WithValues("namespace", ns, "task", name)
	if !s.access.canPatchTasks(ctx, ns) {
		log.Info("acknowledge refused: the user may not patch remediationtasks")
		http.Error(w, fmt.Sprintf("forbidden: you may not patch remediationtasks in namespace %s", ns), http.StatusForbidden)
		return
	}
	if err := plugin.Acknowledge(ctx, s.client, ns, name); err != nil {
		status := http.StatusBadGateway
		switch {
		case apierrors.IsForbidden(err):
			status = http.StatusForbidden
		case strings.Contains(err.Error(), "not found"):
			status = http.StatusNotFound
		}
		log.Info("acknowledge failed", "error", err.Error())
		http.Error(w, err.Error(), status)
		return
	}
	log.Info("task acknowledged")
	if r.Header.Get(csrfHeader) != "" {
		w.WriteHeader(http.StatusNoContent) // the script; the event stream updates the page
		return
	}
	back := "/tasks"
	if ref := r.Header.Get("Referer"); ref != "" && s.originAllowed(r) {
		if i := strings.Index(ref, "/tasks"); i >= 0 {
			back = ref[i:]
		}
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// handleEvents is the event stream of a page: an event "change" whose data are
// the topics that changed, space-separated. At most MaxClients streams are open
// at a time; the stream ends when the client goes or the server shuts down.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	sub, ok := s.hub.subscribe()
	if !ok {
		w.Header().Set("Retry-After", "30")
		http.Error(w, "too many open dashboard pages", http.StatusServiceUnavailable)
		return
	}
	defer s.hub.unsubscribe(sub)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 2000\n: connected\n\n")
	flusher.Flush()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case <-sub.wake:
			topics := sub.take()
			if len(topics) == 0 {
				continue
			}
			if _, err := fmt.Fprintf(w, "event: change\ndata: %s\n\n", strings.Join(topics, " ")); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
