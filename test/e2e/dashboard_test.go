package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/dashboard"
	"github.com/cxops/cxops/internal/plugin"
	"github.com/cxops/cxops/internal/testenv"
)

// chromium finds a Chromium or Chrome binary: $CXOPS_CHROMIUM, else the usual
// names on PATH. It skips the test when there is none, except under CI=true,
// where a missing browser is a broken setup and fails it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CXOPS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (chromium, chromium-browser or google-chrome on PATH, or $CXOPS_CHROMIUM) for the dashboard's browser test; hack/setup-chromium.sh installs Debian's chromium as root"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// loadSamples decodes the objects of config/samples files into typed objects.
func loadSamples(t *testing.T, files ...string) []client.Object {
	t.Helper()
	decoder := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	var objs []client.Object
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", f))
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(string(data))))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(doc)) == "" {
				continue
			}
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objs = append(objs, obj.(client.Object))
		}
	}
	return objs
}

// sampleBlueprint is a service blueprint for the sample journey's stages, used
// when the samples carry none, so that the blueprint lanes are exercised.
func sampleBlueprint(stage string) *cxv1.StageBlueprint {
	switch stage {
	case "discover":
		return &cxv1.StageBlueprint{
			CustomerActions: []string{"Searches the catalogue by machine and part number", "Asks on chat when unsure"},
			Frontstage:      []cxv1.FrontstageAction{{Action: "Answer on chat", Touchpoint: "chat", Channel: cxv1.ChannelChat, Team: "service"}},
			Backstage:       []cxv1.BackstageProcess{{Name: "chat-routing", DisplayName: "Chat routing", Owner: "service", Systems: []string{"chat"}}},
			SupportSystems:  []cxv1.SupportSystem{{Name: "chat", Description: "Chat platform", Owner: "service"}},
		}
	case "order":
		return &cxv1.StageBlueprint{
			CustomerActions: []string{"Puts the part in the cart", "Orders with the promised date"},
			Frontstage:      []cxv1.FrontstageAction{{Action: "Show stock and delivery date", Touchpoint: "stock display", Channel: cxv1.ChannelWeb, Team: "it"}},
			Backstage: []cxv1.BackstageProcess{{Name: "stock-sync", DisplayName: "Stock synchronisation", Owner: "logistics", Systems: []string{"erp", "shop"},
				SIPOC: cxv1.SIPOC{Suppliers: []string{"warehouse"}, Inputs: []string{"stock levels"}, Outputs: []string{"available-to-promise"}, Customers: []string{"web shop"}}}},
			SupportSystems: []cxv1.SupportSystem{{Name: "erp", Description: "ERP: stock and orders", Owner: "it"}, {Name: "shop", Description: "Web shop", Owner: "it"}},
		}
	case "deliver":
		return &cxv1.StageBlueprint{
			CustomerActions: []string{"Waits for the part", "Tracks the parcel"},
			Frontstage:      []cxv1.FrontstageAction{{Action: "Send the dispatch notice", Touchpoint: "dispatch notice", Channel: cxv1.ChannelEmail, Team: "logistics"}},
			Backstage:       []cxv1.BackstageProcess{{Name: "pick-and-ship", DisplayName: "Pick and ship", Owner: "logistics", Systems: []string{"wms"}}},
			SupportSystems:  []cxv1.SupportSystem{{Name: "wms", Description: "Warehouse management", Owner: "logistics"}},
		}
	case "service":
		return &cxv1.StageBlueprint{
			CustomerActions: []string{"Fits the part", "Answers the survey"},
			Frontstage:      []cxv1.FrontstageAction{{Action: "Send the survey", Touchpoint: "survey", Channel: cxv1.ChannelEmail, Team: "marketing"}},
		}
	}
	return nil
}

// sampleProcess is the process of sampleBlueprint each sample moment measures.
var sampleProcess = map[string]string{
	"first-answer-on-chat":  "chat-routing",
	"stock-shown-is-real":   "stock-sync",
	"delivery-promise-kept": "pick-and-ship",
}

// TestDashboardInTheBrowser drives the dashboard in headless Chromium against
// the test API server with the cxops controllers running on the samples: the
// map shows every stage and moment; a static value patched below its target
// turns the moment's card drifting and shows its task without a reload; the
// task is acknowledged from the page; a user who may not patch tasks gets no
// button. With CXOPS_SCREENSHOTS=1 it writes the screenshots of the docs to
// docs/images.
func TestDashboardInTheBrowser(t *testing.T) {
	browser := chromium(t)
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The samples, in their own namespace. stock-accuracy drifts at once (no
	// `for`), so that the test does not wait the sample's minute.
	ns := "e2e-dashboard"
	g.Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	objs := loadSamples(t, "cx_v1alpha1_signalsource_static.yaml", "cx_v1alpha1_journey.yaml", "cx_v1alpha1_roadmapstreams.yaml", "cx_v1alpha1_moments.yaml")
	var stages, moments []string
	addedBlueprint := false
	for _, o := range objs {
		o.SetNamespace(ns)
		switch o := o.(type) {
		case *cxv1.Journey:
			blueprint := false
			for _, s := range o.Spec.Stages {
				stages = append(stages, s.Name)
				blueprint = blueprint || len(s.Blueprint.Backstage) > 0
			}
			if !blueprint {
				for i := range o.Spec.Stages {
					if bp := sampleBlueprint(o.Spec.Stages[i].Name); bp != nil {
						o.Spec.Stages[i].Blueprint = *bp
					}
				}
				addedBlueprint = true
			}
			if o.Spec.Vision == "" {
				o.Spec.Vision = "A technician orders the right part in five minutes, and it arrives on the day we promised."
			}
		case *cxv1.Moment:
			moments = append(moments, o.Name)
			if o.Name == "stock-shown-is-real" {
				o.Spec.Objectives[0].For = nil
			}
			if addedBlueprint && o.Spec.Process == "" {
				o.Spec.Process = sampleProcess[o.Name]
			}
		}
		g.Expect(k8sClient.Create(ctx, o)).To(Succeed(), o.GetName())
	}
	g.Expect(stages).NotTo(BeEmpty())
	g.Expect(moments).To(ContainElement("stock-shown-is-real"))

	// Two users: the admin, and a viewer who may read the cxops kinds here but
	// not patch them.
	admin, err := client.NewWithWatch(env.Config, client.Options{Scheme: plugin.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	u, err := env.AddUser(envtest.User{Name: "dashboard-e2e-viewer"}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8sClient.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cx-view"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{cxv1.GroupVersion.Group}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}}}})).To(Succeed())
	g.Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cx-view"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "cx-view"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dashboard-e2e-viewer"}}})).To(Succeed())
	viewer, err := client.NewWithWatch(u.Config(), client.Options{Scheme: plugin.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())

	adminURL := serveDashboard(t, ctx, admin, ns)
	viewerURL := serveDashboard(t, ctx, viewer, ns)

	// The browser.
	allocCtx, stopAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1680, 1050))...)
	defer stopAlloc()
	bctx, stopBrowser := chromedp.NewContext(allocCtx)
	defer stopBrowser()
	// The first action on a context starts the browser, which lives as long as
	// that context: start it on bctx, not on a step's shorter one.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", browser, err)
	}
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, done := context.WithTimeout(bctx, 30*time.Second)
		defer done()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	connected := func() {
		t.Helper()
		sctx, done := context.WithTimeout(bctx, 30*time.Second)
		defer done()
		if _, err := chromedp.Run(sctx, chromedp.Poll[bool](`document.body.dataset.live === "connected"`)); err != nil {
			t.Fatalf("live updates do not connect: %v", err)
		}
	}
	eval := func(expr string) bool {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("evaluating %s: %v", expr, err)
		}
		return v
	}

	// 1. The map shows every stage and every moment of the samples.
	mapURL := adminURL + "/journeys/" + ns + "/technician-buys-parts"
	step("open the map", chromedp.Navigate(mapURL), chromedp.WaitVisible(chromedp.CSS("#stages")))
	for _, s := range stages {
		step("stage "+s, chromedp.WaitVisible(chromedp.CSS("#stage-"+s)))
	}
	for _, m := range moments {
		step("moment "+m, chromedp.WaitVisible(chromedp.CSS("#moment-"+m)))
	}
	step("the blueprint lanes", chromedp.WaitVisible(chromedp.CSS("#blueprint tr.lane-visibility")), chromedp.WaitVisible(chromedp.CSS("#process-stock-sync")))
	g.Expect(eval(`document.querySelector("#moment-stock-shown-is-real").dataset.drifting === "false"`)).To(BeTrue())
	// Wait for the live connection, then mark the document: a reload would lose the mark.
	connected()
	step("mark the document", chromedp.Evaluate[chromedp.Void](`window.cxNoReload = true`))

	// 2. Stock accuracy drops below its target: the card turns drifting and its
	// task appears, without a reload.
	patched := time.Now()
	src := &cxv1.SignalSource{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "spare-parts-figures"}, src)).To(Succeed())
	src.Spec.Static.Values["stock-accuracy"] = "98.1"
	g.Expect(k8sClient.Update(ctx, src)).To(Succeed())
	step("the card turns drifting", chromedp.WaitVisible(chromedp.CSS(`#moment-stock-shown-is-real.drifting .drift-flag`)))
	step("the task appears on the card", chromedp.WaitVisible(chromedp.CSS(`#moment-stock-shown-is-real .open-tasks a`)))
	t.Logf("drifting card and its task shown %s after the patch", time.Since(patched).Round(10*time.Millisecond))
	g.Expect(eval(`window.cxNoReload === true`)).To(BeTrue(), "the page was reloaded")
	// Read from the live document each time: a live update replaces the card, and
	// a node found before it is gone (chromedp.Text then fails with "No node with
	// given id found").
	g.Eventually(func(g Gomega) {
		text, err := chromedp.Run(bctx, chromedp.Evaluate[string](
			`document.querySelector('#moment-stock-shown-is-real [data-objective="stock-accuracy"]')?.textContent ?? ""`))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(text).To(ContainSubstring("Drifting"))
		g.Expect(text).To(ContainSubstring("98.1"))
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())

	var tasks cxv1.RemediationTaskList
	g.Expect(k8sClient.List(ctx, &tasks, client.InNamespace(ns))).To(Succeed())
	g.Expect(tasks.Items).To(HaveLen(1))
	taskName := tasks.Items[0].Name
	row := fmt.Sprintf("#task-%s-%s", ns, taskName)
	button := fmt.Sprintf("#ack-%s-%s", ns, taskName)

	if os.Getenv("CXOPS_SCREENSHOTS") != "" {
		screenshot(t, bctx, "#overview", "dashboard-map.png")
		screenshot(t, bctx, "#blueprint", "dashboard-blueprint.png")
	}

	// 3. The viewer sees the task but no button.
	vctx, stopViewer := chromedp.NewContext(bctx)
	defer stopViewer()
	if err := chromedp.Do(vctx, chromedp.Navigate(viewerURL+"/tasks"), chromedp.WaitVisible(chromedp.CSS(row))); err != nil {
		t.Fatalf("the viewer's tasks: %v", err)
	}
	buttons, err := chromedp.Run(vctx, chromedp.Evaluate[int](`document.querySelectorAll("#tasks button").length`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(buttons).To(BeZero(), "a user who may not patch tasks gets no acknowledge button")

	// 4. The admin acknowledges from the page (keyboard: focus and Enter); the
	// phase changes without a reload.
	step("open the tasks", chromedp.Navigate(adminURL+"/tasks"), chromedp.WaitVisible(chromedp.CSS(row+`[data-phase="Open"]`)))
	connected()
	step("mark the document", chromedp.Evaluate[chromedp.Void](`window.cxNoReload = true`))
	step("acknowledge", chromedp.Focus(chromedp.CSS(button)), chromedp.KeyEvent("\r"))
	step("the phase changes", chromedp.WaitVisible(chromedp.CSS(row+`[data-phase="Acknowledged"]`)))
	g.Expect(eval(`window.cxNoReload === true`)).To(BeTrue(), "the page was reloaded")
	var acked cxv1.RemediationTask
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: taskName}, &acked)).To(Succeed())
	g.Expect(acked.Status.Phase).To(Equal(cxv1.TaskAcknowledged))
	if os.Getenv("CXOPS_SCREENSHOTS") != "" {
		screenshot(t, bctx, "main", "dashboard-tasks.png")
	}

	// 5. The roadmap shows every stream of the samples with its progress.
	step("open the roadmap", chromedp.Navigate(adminURL+"/streams"))
	for _, o := range objs {
		if rs, ok := o.(*cxv1.RoadmapStream); ok {
			step("stream "+rs.Name, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#stream-%s-%s progress", ns, rs.Name))))
		}
	}
	if os.Getenv("CXOPS_SCREENSHOTS") != "" {
		screenshot(t, bctx, "main", "dashboard-roadmap.png")
	}
}

// serveDashboard serves a dashboard of ns as c on a loopback port until the
// test ends, and returns its URL.
func serveDashboard(t *testing.T, ctx context.Context, c client.WithWatch, ns string) string {
	t.Helper()
	s, err := dashboard.New(dashboard.Options{Client: c, Namespace: ns, Log: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dashboard: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the dashboard did not stop within 10s of its context's end")
		}
	})
	return "http://" + l.Addr().String()
}

// screenshot writes the element sel as a PNG to docs/images/name.
func screenshot(t *testing.T, ctx context.Context, sel, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("screenshot of %s: %v", sel, err)
	}
	path := filepath.Join(testenv.RepoRoot(), "docs", "images", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}
