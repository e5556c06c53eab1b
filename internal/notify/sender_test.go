package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/time/rate"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/egress"
)

const (
	secretToken = "s3cr3t-t0ken-value"
	bodySecret  = "internal stack trace: password=hunter2"
)

func sampleNotification() Notification {
	opened := time.Date(2026, 3, 1, 10, 5, 0, 0, time.FixedZone("CET", 3600))
	return Notification{
		Event:          v1alpha1.NotifyOpened,
		Task:           "checkout-nps-1a2b3c",
		Namespace:      "shop",
		UID:            "0b6c3f6e-5f7e-4c1a-9d3e-1f2a3b4c5d6e",
		Moment:         "checkout",
		Journey:        "b2c-buyer",
		Objective:      "nps",
		Stream:         "customer-centricity",
		Team:           "service",
		Severity:       v1alpha1.SeverityHigh,
		Observed:       "12",
		Target:         ">= 30",
		BreachingSince: opened.Add(-10 * time.Minute),
		OpenedTime:     opened,
		Summary:        "NPS 12 is below 30 for 10m",
		IdempotencyKey: IdempotencyKey("0b6c3f6e-5f7e-4c1a-9d3e-1f2a3b4c5d6e", "moment/ops", v1alpha1.NotifyOpened, 0),
	}
}

type received struct {
	method string
	path   string
	header http.Header
	body   []byte
}

// recordingServer answers status to every request and hands each request over on
// the returned channel. It counts requests.
func recordingServer(t *testing.T, status int, answer string) (*httptest.Server, <-chan received, *atomic.Int32) {
	t.Helper()
	ch := make(chan received, 16)
	var count atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		b, _ := io.ReadAll(r.Body)
		ch <- received{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: b}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, ch, &count
}

// expectSafe checks what every error of Send must be: short, without the body,
// the header values or the URL's secret parts.
func expectSafe(g Gomega, err error) {
	g.Expect(err).To(HaveOccurred())
	msg := err.Error()
	g.Expect(len(msg)).To(BeNumerically("<=", MaxErrorLength))
	g.Expect(msg).NotTo(ContainSubstring(secretToken))
	g.Expect(msg).NotTo(ContainSubstring("hunter2"))
	g.Expect(msg).NotTo(ContainSubstring("/hooks/"))
}

func TestSendDeliversBodyAndHeaders(t *testing.T) {
	g := NewWithT(t)
	srv, ch, _ := recordingServer(t, http.StatusAccepted, "ok")
	s := NewSender(Options{Policy: local}) // the real egress transport, with loopback allowed
	n := sampleNotification()

	err := s.Send(context.Background(), srv.URL+"/hooks/cx", map[string]string{
		"Authorization": "Bearer " + secretToken + "\n", // as stored by kubectl create secret --from-file
		"x-team":        "service",
	}, n)
	g.Expect(err).NotTo(HaveOccurred())

	var got received
	g.Eventually(ch).Should(Receive(&got))
	g.Expect(got.method).To(Equal(http.MethodPost))
	g.Expect(got.path).To(Equal("/hooks/cx"))
	g.Expect(got.header.Get("Content-Type")).To(Equal("application/json"))
	g.Expect(got.header.Get("Idempotency-Key")).To(Equal(n.IdempotencyKey))
	g.Expect(got.header.Get("X-Cxops-Event")).To(Equal("Opened"))
	g.Expect(got.header.Get("Authorization")).To(Equal("Bearer " + secretToken))
	g.Expect(got.header.Get("X-Team")).To(Equal("service"))

	var body Notification
	g.Expect(json.Unmarshal(got.body, &body)).To(Succeed())
	g.Expect(body.Event).To(Equal(n.Event))
	g.Expect(body.Task).To(Equal(n.Task))
	g.Expect(body.Namespace).To(Equal(n.Namespace))
	g.Expect(body.UID).To(Equal(n.UID))
	g.Expect(body.IdempotencyKey).To(Equal(n.IdempotencyKey))
	g.Expect(body.OpenedTime.Equal(n.OpenedTime)).To(BeTrue())
	g.Expect(body.Summary).To(Equal(n.Summary))

	var raw map[string]any
	g.Expect(json.Unmarshal(got.body, &raw)).To(Succeed())
	g.Expect(raw).To(HaveKeyWithValue("idempotencyKey", n.IdempotencyKey))
	g.Expect(raw).To(HaveKeyWithValue("breachingSince", "2026-03-01T08:55:00Z"))
}

func TestNotificationJSON(t *testing.T) {
	g := NewWithT(t)
	n := sampleNotification()
	n.Event = v1alpha1.NotifyResolved
	n.ResolvedTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	n.Resolution = v1alpha1.ResolutionAutoRecovered
	n.Escalations = 2
	n.IdempotencyKey = "0123456789abcdef0123456789abcdef"

	b, err := json.Marshal(n)
	g.Expect(err).NotTo(HaveOccurred())
	// Field order and names are part of the receivers' contract.
	g.Expect(string(b)).To(Equal(`{"event":"Resolved","task":"checkout-nps-1a2b3c","namespace":"shop",` +
		`"uid":"0b6c3f6e-5f7e-4c1a-9d3e-1f2a3b4c5d6e","moment":"checkout","journey":"b2c-buyer",` +
		`"objective":"nps","stream":"customer-centricity","team":"service","severity":"High",` +
		`"observed":"12","target":"\u003e= 30","breachingSince":"2026-03-01T08:55:00Z",` +
		`"openedTime":"2026-03-01T09:05:00Z","resolvedTime":"2026-03-01T12:00:00Z",` +
		`"resolution":"AutoRecovered","summary":"NPS 12 is below 30 for 10m","escalations":2,` +
		`"idempotencyKey":"0123456789abcdef0123456789abcdef"}`))

	// Optional fields are left out; escalations and the key never are.
	b, err = json.Marshal(Notification{Event: v1alpha1.NotifyOpened, Task: "t", Namespace: "ns", UID: "u", Moment: "m", Objective: "o", IdempotencyKey: "k"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(b)).To(Equal(`{"event":"Opened","task":"t","namespace":"ns","uid":"u","moment":"m","objective":"o","escalations":0,"idempotencyKey":"k"}`))
}

func TestSendNon2xxReportsStatusOnly(t *testing.T) {
	g := NewWithT(t)
	srv, ch, _ := recordingServer(t, http.StatusInternalServerError, bodySecret+strings.Repeat("x", 200<<10))
	s := NewSender(Options{Policy: local})

	err := s.Send(context.Background(), srv.URL+"/hooks/"+secretToken+"?token="+secretToken,
		map[string]string{"Authorization": "Bearer " + secretToken}, sampleNotification())
	expectSafe(g, err)
	g.Expect(err.Error()).To(Equal(egress.UnreachableMessage(srv.Listener.Addr().String())))
	var se *StatusError
	g.Expect(errors.As(err, &se)).To(BeTrue())
	g.Expect(se.StatusCode).To(Equal(http.StatusInternalServerError))
	g.Eventually(ch).Should(Receive())
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	g := NewWithT(t)
	elsewhere, _, elsewhereCount := recordingServer(t, http.StatusOK, "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	s := NewSender(Options{Policy: local})

	err := s.Send(context.Background(), srv.URL, map[string]string{"Authorization": "Bearer " + secretToken}, sampleNotification())
	expectSafe(g, err)
	g.Expect(err.Error()).To(Equal(egress.UnreachableMessage(srv.Listener.Addr().String())))
	var se *StatusError
	g.Expect(errors.As(err, &se)).To(BeTrue())
	g.Expect(se.StatusCode).To(Equal(http.StatusTemporaryRedirect))
	g.Expect(elsewhereCount.Load()).To(BeZero())
}

func TestSendTimesOut(t *testing.T) {
	g := NewWithT(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close, which waits for handlers
	s := NewSender(Options{Policy: local, Timeout: 100 * time.Millisecond})

	err := s.Send(context.Background(), srv.URL+"/hooks/"+secretToken, nil, sampleNotification())
	expectSafe(g, err)
	g.Expect(err.Error()).To(Equal(egress.UnreachableMessage(srv.Listener.Addr().String())))
	g.Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue())
}

func TestSendCanceled(t *testing.T) {
	g := NewWithT(t)
	srv, _, count := recordingServer(t, http.StatusOK, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	err := NewSender(Options{Policy: local}).Send(ctx, srv.URL, nil, sampleNotification())
	expectSafe(g, err)
	g.Expect(err.Error()).To(ContainSubstring("interrupted"))
	g.Expect(errors.Is(err, context.Canceled)).To(BeTrue())
	g.Expect(count.Load()).To(BeZero())
}

// local lets the sender call the test servers on loopback, which the default
// egress policy refuses.
var local = egress.Policy{Allow: egress.Loopback()}

func TestSendBlockedByEgressPolicy(t *testing.T) {
	srv, _, count := recordingServer(t, http.StatusOK, "")
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	allowOthers := egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}

	cases := []struct {
		name   string
		policy egress.Policy
		host   string
	}{
		{"allow list, IP literal", allowOthers, "127.0.0.1"},
		{"allow list, name resolved at dial time", allowOthers, "localhost"},
		{"default policy denies loopback", egress.Policy{}, "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s := NewSender(Options{Policy: tc.policy})
			url := "http://" + net.JoinHostPort(tc.host, itoa(port)) + "/hooks/" + secretToken

			err := s.Send(context.Background(), url, map[string]string{"Authorization": secretToken}, sampleNotification())
			expectSafe(g, err)
			if tc.host == "localhost" {
				// A name: neither the address nor the rule, which would read the
				// cluster's DNS for the sink's author.
				g.Expect(err.Error()).To(Equal(egress.BlockedNameMessage(net.JoinHostPort(tc.host, itoa(port)))))
			} else {
				g.Expect(err.Error()).To(ContainSubstring("is blocked by the egress policy"))
				g.Expect(err.Error()).To(MatchRegexp(`address (127\.0\.0\.1|::1) `))
			}
			g.Expect(egress.IsBlocked(err)).To(BeTrue())
			g.Expect(count.Load()).To(BeZero())
		})
	}
}

func TestSendBlockedLiteralEvenWithCustomTransport(t *testing.T) {
	g := NewWithT(t)
	var calls atomic.Int32
	rt := roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, errors.New("must not be called")
	})
	s := NewSender(Options{Transport: rt})

	err := s.Send(context.Background(), "http://169.254.169.254/latest/meta-data", nil, sampleNotification())
	expectSafe(g, err)
	g.Expect(err.Error()).To(ContainSubstring("169.254.169.254"))
	g.Expect(err.Error()).To(ContainSubstring("blocked by the egress policy (link-local, cloud metadata)"))
	g.Expect(calls.Load()).To(BeZero())
}

func TestSendRespectsHostLimiter(t *testing.T) {
	g := NewWithT(t)
	srv, _, count := recordingServer(t, http.StatusOK, "")
	// One call, then one an hour: the second cannot go within the timeout.
	s := NewSender(Options{Policy: local, Limiter: egress.NewHostLimiter(rate.Every(time.Hour), 1), Timeout: time.Second})

	g.Expect(s.Send(context.Background(), srv.URL, nil, sampleNotification())).To(Succeed())
	err := s.Send(context.Background(), srv.URL, nil, sampleNotification())
	expectSafe(g, err)
	g.Expect(err.Error()).To(ContainSubstring("rate limit"))
	g.Expect(errors.Is(err, egress.ErrRateLimited)).To(BeTrue())
	g.Expect(count.Load()).To(Equal(int32(1)))
}

func TestSendNetworkErrorIsShort(t *testing.T) {
	g := NewWithT(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	g.Expect(l.Close()).To(Succeed())

	err = NewSender(Options{Policy: local}).Send(context.Background(),
		"http://user:"+secretToken+"@"+addr+"/hooks/"+secretToken+"?token="+secretToken,
		map[string]string{"Authorization": secretToken}, sampleNotification())
	expectSafe(g, err)
	g.Expect(err.Error()).To(Equal(egress.UnreachableMessage(addr)))
}

func TestSendClosedConnection(t *testing.T) {
	g := NewWithT(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	t.Cleanup(srv.Close)

	err := NewSender(Options{Policy: local}).Send(context.Background(), srv.URL+"/hooks/"+secretToken, nil, sampleNotification())
	expectSafe(g, err)
	g.Expect(err.Error()).To(Equal(egress.UnreachableMessage(srv.Listener.Addr().String())))
}

func TestSendRejectsBadInput(t *testing.T) {
	srv, _, count := recordingServer(t, http.StatusOK, "")
	cases := []struct {
		name    string
		url     string
		headers map[string]string
		mutate  func(*Notification)
		want    string
	}{
		{"not a URL", "::" + secretToken, nil, nil, "not a valid absolute http or https URL"},
		{"relative URL", "/hooks/" + secretToken, nil, nil, "not a valid absolute http or https URL"},
		{"other scheme", "ftp://127.0.0.1/hooks/" + secretToken, nil, nil, "not a valid absolute http or https URL"},
		{"control character in value", srv.URL, map[string]string{"Authorization": "Bearer " + secretToken + "\x00x"}, nil,
			`value of header "Authorization" from the sink's Secret contains control characters`},
		{"line break inside value", srv.URL, map[string]string{"X-Key": secretToken + "\r\nX-Evil: 1"}, nil,
			`value of header "X-Key" from the sink's Secret contains control characters`},
		{"invalid name", srv.URL, map[string]string{"bad header": secretToken}, nil, `"bad header" from the sink's Secret is not a valid HTTP header name`},
		{"reserved name", srv.URL, map[string]string{"idempotency-key": secretToken}, nil, `"Idempotency-Key" from the sink's Secret is set by cxops itself`},
		{"no key", srv.URL, nil, func(n *Notification) { n.IdempotencyKey = "" }, "no idempotency key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			n := sampleNotification()
			if tc.mutate != nil {
				tc.mutate(&n)
			}
			err := NewSender(Options{Policy: local}).Send(context.Background(), tc.url, tc.headers, n)
			expectSafe(g, err)
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
	if count.Load() != 0 {
		t.Errorf("the server saw %d requests, want none", count.Load())
	}
}

func TestErrorsAreBounded(t *testing.T) {
	g := NewWithT(t)
	long := strings.Repeat("é", 600)
	err := newError(nil, "webhook host %s failed", long)
	g.Expect(len(err.Error())).To(BeNumerically("<=", MaxErrorLength))
	g.Expect(strings.ToValidUTF8(err.Error(), "?")).To(Equal(err.Error()))
	g.Expect(err.Error()).To(HaveSuffix("…"))
}

func TestIdempotencyKey(t *testing.T) {
	g := NewWithT(t)
	const uid = "0b6c3f6e-5f7e-4c1a-9d3e-1f2a3b4c5d6e"
	k := IdempotencyKey(uid, "moment/ops", v1alpha1.NotifyEscalated, 2)
	g.Expect(k).To(MatchRegexp(`^[0-9a-f]{32}$`))
	g.Expect(IdempotencyKey(uid, "moment/ops", v1alpha1.NotifyEscalated, 2)).To(Equal(k))
	// Pinned: keys must not change between releases, or receivers see duplicates.
	g.Expect(IdempotencyKey("uid-1", "ops", v1alpha1.NotifyOpened, 0)).To(Equal("426901919801e6df140bc92cfd412514"))

	seen := map[string]string{}
	add := func(desc, key string) {
		t.Helper()
		if prev, ok := seen[key]; ok {
			t.Errorf("%s and %s share key %s", prev, desc, key)
		}
		seen[key] = desc
	}
	for _, task := range []string{uid, "other-uid", ""} {
		for _, sink := range []string{"moment/ops", "stream/ops", "ops", ""} {
			for _, ev := range []v1alpha1.NotificationEvent{v1alpha1.NotifyOpened, v1alpha1.NotifyEscalated, v1alpha1.NotifyResolved} {
				for _, esc := range []int32{0, 1, 2, 10} {
					add(strings.Join([]string{task, sink, string(ev), itoa(int(esc))}, "|"), IdempotencyKey(task, sink, ev, esc))
				}
			}
		}
	}
	// Field boundaries matter: moving characters between fields changes the key.
	add("a|b-c", IdempotencyKey("a", "b-c", v1alpha1.NotifyOpened, 0))
	add("a-b|c", IdempotencyKey("a-b", "c", v1alpha1.NotifyOpened, 0))
	add("a:|b", IdempotencyKey("a:", "b", v1alpha1.NotifyOpened, 0))
	add("a|:b", IdempotencyKey("a", ":b", v1alpha1.NotifyOpened, 0))
}

func TestBackoff(t *testing.T) {
	g := NewWithT(t)
	want := map[int32]time.Duration{
		-1: time.Second, 0: time.Second,
		1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second,
		8: 128 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute,
		12: 5 * time.Minute, 63: 5 * time.Minute, 64: 5 * time.Minute, 1 << 30: 5 * time.Minute,
	}
	for attempts, d := range want {
		g.Expect(Backoff(attempts)).To(Equal(d), "Backoff(%d)", attempts)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func itoa(i int) string { return strconv.Itoa(i) }
