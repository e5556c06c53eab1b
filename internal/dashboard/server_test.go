package dashboard

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// get serves one GET and returns the status and body.
func get(s *Server, path string, header ...string) (int, string) {
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:3100"+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// post serves one acknowledge POST from the dashboard's origin with the given
// token (none when empty) and returns the status and body.
func post(s *Server, path, token string, header ...string) (int, string) {
	form := url.Values{}
	if token != "" {
		form.Set(csrfField, token)
	}
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:3100"+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://127.0.0.1:3100")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// Every page renders from the API server, and names, descriptions and values a
// tenant writes are escaped: a hostile persona or summary is text, never markup.
func TestPagesRenderAndEscapeHostileText(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "render")
	const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>`
	j := journey(ns, "parts")
	j.Spec.Persona.Name = hostile
	j.Spec.Vision = "vision " + hostile
	j.Spec.Stages[0].DisplayName = "stage " + hostile
	j.Spec.Stages[0].Blueprint = cxv1.StageBlueprint{
		CustomerActions: []string{"action " + hostile},
		Backstage:       []cxv1.BackstageProcess{{Name: "stock-sync", DisplayName: "process " + hostile, Owner: "it", Systems: []string{"erp"}}},
		SupportSystems:  []cxv1.SupportSystem{{Name: "erp", Description: "system " + hostile}},
	}
	create(t, j, nil)
	m := moment(ns, "stock-shown-is-real", "parts", "order")
	m.Spec.Touchpoint = "touchpoint " + hostile
	create(t, m, nil)
	tk := task(ns, "stock-task", "stock-shown-is-real")
	tk.Spec.Summary = "summary " + hostile
	create(t, tk, nil)
	create(t, &cxv1.RoadmapStream{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "systems"},
		Spec: cxv1.RoadmapStreamSpec{Category: cxv1.StreamSystemsData, Owner: "it", Vision: "stream " + hostile}}, nil)

	s := newServer(t, admin, ns)
	for _, path := range []string{"/", "/journeys/" + ns + "/parts", "/tasks", "/streams"} {
		code, body := get(s, path)
		g.Expect(code).To(Equal(http.StatusOK), path+": "+body)
		g.Expect(body).To(ContainSubstring("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"), path)
		g.Expect(body).NotTo(ContainSubstring("<script>alert"), path)
		g.Expect(body).NotTo(ContainSubstring("<img src=x"), path)
	}
	// The map shows the stage, the moment and the blueprint lanes.
	_, body := get(s, "/journeys/"+ns+"/parts")
	g.Expect(body).To(ContainSubstring(`id="moment-stock-shown-is-real"`))
	g.Expect(body).To(ContainSubstring("Line of visibility"))
	g.Expect(body).To(ContainSubstring(`id="process-stock-sync"`))

	// A fragment is the content only, for the script's re-fetch.
	code, frag := get(s, "/tasks", "X-CX-Fragment", "1")
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(frag).NotTo(ContainSubstring("<html"))
	g.Expect(frag).To(ContainSubstring(`data-task="stock-task"`))

	// Pages forbid scripts and frames from anywhere else.
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://localhost:3100/", nil))
	g.Expect(rec.Header().Get("Content-Security-Policy")).To(ContainSubstring("script-src 'self'"))
	g.Expect(rec.Header().Get("X-Frame-Options")).To(Equal("DENY"))

	// A journey of another namespace is not shown by a namespaced dashboard.
	code, _ = get(s, "/journeys/kube-system/parts")
	g.Expect(code).To(Equal(http.StatusNotFound))
}

// The dashboard never shows Unknown as Healthy: a journey whose status says
// Healthy but whose coverage is below its minimum is Unknown, as in the plugin;
// a process without a status is Unknown.
func TestUnknownIsNeverShownHealthy(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "unknown")
	j := journey(ns, "parts")
	j.Spec.Stages[0].Blueprint = cxv1.StageBlueprint{Backstage: []cxv1.BackstageProcess{{Name: "stock-sync", Owner: "it"}}}
	create(t, j, func() {
		j.Status = cxv1.JourneyStatus{ObservedGeneration: 1, Health: cxv1.HealthHealthy, Score: ptr.To(int32(100)), Coverage: ptr.To(int32(40))}
	})
	s := newServer(t, admin, ns)
	_, body := get(s, "/")
	g.Expect(body).To(ContainSubstring(`<span class="state st-unknown">Unknown</span>`))
	g.Expect(body).NotTo(ContainSubstring(`>Healthy<`))
	_, body = get(s, "/journeys/"+ns+"/parts")
	g.Expect(body).NotTo(ContainSubstring(`>Healthy<`))
	g.Expect(body).To(MatchRegexp(`(?s)id="process-stock-sync".*Health: <span class="state st-unknown">Unknown</span>`))
}

// Acknowledging is a same-origin POST with the process's token by a user who
// may patch tasks; anything else is refused and the task is untouched.
func TestAcknowledge(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, "ack")
	openTask(t, ns, "stock-task", "stock-shown-is-real")
	path := "/tasks/" + ns + "/stock-task/acknowledge"
	acknowledged := func() bool {
		var tk cxv1.RemediationTask
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "stock-task"}, &tk)).To(Succeed())
		return ptr.Deref(tk.Spec.Acknowledged, false)
	}

	s := newServer(t, admin, ns)
	_, body := get(s, "/tasks")
	g.Expect(body).To(ContainSubstring(`id="ack-`+ns+`-stock-task"`), "the admin gets the button")
	g.Expect(body).To(ContainSubstring(`name="csrf" value="` + s.Token() + `"`))

	code, _ := post(s, path, "")
	g.Expect(code).To(Equal(http.StatusForbidden), "no token")
	code, _ = post(s, path, "not-the-token")
	g.Expect(code).To(Equal(http.StatusForbidden), "wrong token")
	code, _ = post(s, path, s.Token(), "Origin", "http://evil.example")
	g.Expect(code).To(Equal(http.StatusForbidden), "another origin")
	code, _ = post(s, path, s.Token(), "Origin", "")
	g.Expect(code).To(Equal(http.StatusForbidden), "no origin nor referer")
	// DNS rebinding: a foreign name for the loopback address is not served.
	req := httptest.NewRequest(http.MethodPost, "http://evil.example:3100"+path, nil)
	req.Header.Set("Origin", "http://evil.example:3100")
	req.Header.Set(csrfHeader, s.Token())
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	g.Expect(rec.Code).To(Equal(http.StatusMisdirectedRequest))
	code, _ = get(s, "/tasks/"+ns+"/stock-task/acknowledge")
	g.Expect(code).To(Equal(http.StatusMethodNotAllowed))
	g.Expect(acknowledged()).To(BeFalse())

	// The viewer may read but not patch: no button, and a POST with a valid
	// token is refused with 403.
	sv := newServer(t, viewer, ns)
	code, body = get(sv, "/tasks")
	g.Expect(code).To(Equal(http.StatusOK), body)
	g.Expect(body).To(ContainSubstring(`data-task="stock-task"`))
	g.Expect(body).NotTo(ContainSubstring("ack-"+ns+"-stock-task"), "no button for a user without patch")
	code, body = post(sv, path, sv.Token())
	g.Expect(code).To(Equal(http.StatusForbidden), body)
	g.Expect(body).To(ContainSubstring("you may not patch remediationtasks"))
	g.Expect(acknowledged()).To(BeFalse())

	// The admin with the token, as the page's script does it.
	code, body = post(s, path, "", csrfHeader, s.Token())
	g.Expect(code).To(Equal(http.StatusNoContent), body)
	g.Expect(acknowledged()).To(BeTrue())
	// A form without the script is redirected back to the tasks.
	code, _ = post(s, path, s.Token())
	g.Expect(code).To(Equal(http.StatusSeeOther))
	// An unknown task is a 404.
	code, _ = post(s, "/tasks/"+ns+"/nope/acknowledge", "", csrfHeader, s.Token())
	g.Expect(code).To(Equal(http.StatusNotFound))
}

// A user who may not read a kind gets a page that says so, not an empty list.
func TestForbiddenReadSaysSo(t *testing.T) {
	g := NewWithT(t)
	s := newServer(t, viewer, "kube-system")
	code, body := get(s, "/tasks")
	g.Expect(code).To(Equal(http.StatusForbidden))
	g.Expect(body).To(ContainSubstring("You may not read remediation tasks"))
}

// The tasks page filters by team, severity and phase.
func TestTaskFilters(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "filters")
	openTask(t, ns, "stock-task", "stock-shown-is-real")
	other := task(ns, "chat-task", "first-answer-on-chat")
	other.Spec.Team, other.Spec.Severity = "service", cxv1.SeverityLow
	create(t, other, func() {
		other.Status = cxv1.RemediationTaskStatus{Phase: cxv1.TaskAcknowledged, Severity: cxv1.SeverityLow}
	})
	s := newServer(t, admin, ns)
	for q, want := range map[string][]string{
		"":                           {"stock-task", "chat-task"},
		"?team=service":              {"chat-task"},
		"?severity=High":             {"stock-task"},
		"?phase=Acknowledged":        {"chat-task"},
		"?team=logistics&phase=Open": {"stock-task"},
		"?team=nobody":               {},
	} {
		_, body := get(s, "/tasks"+q)
		for _, name := range []string{"stock-task", "chat-task"} {
			shown := strings.Contains(body, `data-task="`+name+`"`)
			g.Expect(shown).To(Equal(contains(want, name)), "%s: %s", q, name)
		}
	}

	// The page lists at most maxTaskRows tasks, the most urgent first (the open
	// High one before the acknowledged Low one), and says how many it left out.
	defer func(n int) { maxTaskRows = n }(maxTaskRows)
	maxTaskRows = 1
	_, body := get(s, "/tasks")
	g.Expect(body).To(ContainSubstring(`data-task="stock-task"`))
	g.Expect(body).NotTo(ContainSubstring(`data-task="chat-task"`))
	g.Expect(body).To(ContainSubstring("2 match the filters: the 1 most urgent are listed; narrow the filters to see the others."))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The event stream tells an open page within seconds that tasks changed, from
// a watch as the user; streams are bounded.
func TestEventsStreamOnChange(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := newNamespace(t, "events")
	s := newServer(t, admin, ns)
	go s.Watch(ctx)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	open := func() (*http.Response, *bufio.Reader) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		return resp, bufio.NewReader(resp.Body)
	}
	resp, r := open()
	defer func() { _ = resp.Body.Close() }()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(resp.Header.Get("Content-Type")).To(Equal("text/event-stream"))

	// The watches start after a list; wait until the change is seen.
	lines := make(chan string, 64)
	go func() {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- strings.TrimSpace(l)
		}
	}()
	g.Eventually(lines).Should(Receive(Equal(": connected")))
	// Retry creating tasks until a change arrives: the watch may not be
	// established yet when the first is created.
	i := 0
	g.Eventually(func(g Gomega) {
		i++
		openTask(t, ns, "task-"+string(rune('a'+i)), "stock-shown-is-real")
		g.Eventually(lines, 2*time.Second).Should(Receive(Equal("data: tasks")))
	}, 20*time.Second, 100*time.Millisecond).Should(Succeed())

	// A second page fits (MaxClients 2); a third is refused.
	resp2, _ := open()
	defer func() { _ = resp2.Body.Close() }()
	g.Expect(resp2.StatusCode).To(Equal(http.StatusOK))
	g.Eventually(s.hub.count).Should(Equal(2))
	resp3, _ := open()
	body, _ := io.ReadAll(resp3.Body)
	_ = resp3.Body.Close()
	g.Expect(resp3.StatusCode).To(Equal(http.StatusServiceUnavailable), string(body))
}
