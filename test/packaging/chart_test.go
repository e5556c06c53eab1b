package packaging

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "copy config/ files into charts/cxops/files (make chart-sync)")

const chart = "charts/cxops"

// chartFiles maps each file the chart reads (.Files) to its source in config/.
func chartFiles(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{
		"files/prometheus/alerts.yaml":       "config/prometheus/alerts.yaml",
		"files/grafana/cxops-dashboard.json": "config/grafana/cxops-dashboard.json",
	}
	for _, f := range []string{"role", "leader_election_role", "metrics_auth_role", "metrics_reader_role", "viewer_role", "editor_role"} {
		m["files/rbac/"+f+".yaml"] = "config/rbac/" + f + ".yaml"
	}
	crds, err := filepath.Glob(filepath.Join(root, "config/crd/bases/*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	for _, c := range crds {
		m["files/crds/"+filepath.Base(c)] = "config/crd/bases/" + filepath.Base(c)
	}
	return m
}

// TestChartFilesMatchConfig keeps the chart's CRDs, RBAC rules, alerts and
// dashboard equal to config/, their source. `make chart-sync` (-update) copies them.
func TestChartFilesMatchConfig(t *testing.T) {
	files := chartFiles(t)
	if *update {
		_ = os.RemoveAll(filepath.Join(root, chart, "files/crds"))
	}
	for dst, src := range files {
		want := readFile(t, src)
		path := filepath.Join(root, chart, dst)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s/%s differs from %s: run make chart-sync", chart, dst, src)
		}
	}
	// No stale copy of a CRD that config/ no longer has.
	stale, _ := filepath.Glob(filepath.Join(root, chart, "files/crds/*"))
	for _, s := range stale {
		if _, ok := files["files/crds/"+filepath.Base(s)]; !ok {
			t.Errorf("%s has no source in config/crd/bases: run make chart-sync", s)
		}
	}
}

func TestHelmLint(t *testing.T) {
	out := run(t, helm(t), "lint", "--strict", chart)
	if !strings.Contains(out, "0 chart(s) failed") {
		t.Fatalf("helm lint:\n%s", out)
	}
}

// template renders the chart as release "cxops" in cxops-system.
func template(t *testing.T, sets ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", "cxops", chart, "--namespace", "cxops-system"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return objects(t, run(t, helm(t), args...))
}

// The value combinations that the tests render and the dry run applies.
var combinations = []struct {
	name string
	sets []string
}{
	{"defaults", nil},
	{"monitoring", []string{"metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true", "metrics.tls.secretName=cxops-metrics-server-cert"}},
	{"dashboard", []string{"dashboard.enabled=true"}},
	{"no-pdb-no-netpol", []string{"podDisruptionBudget.enabled=false", "networkPolicy.enabled=false"}},
	{"egress-allow", []string{"egress.allow={10.0.0.0/8,2001:db8::/32}", "egress.deny={10.1.0.0/16}", "statusHeartbeat=10m"}},
	{"single-replica", []string{"replicas=1", "leaderElection.enabled=false", "crds.install=false", "metrics.enabled=false"}},
}

func container(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	d := find(t, objs, "Deployment", "")
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("want one container, got %d", len(cs))
	}
	return cs[0].(map[string]any)
}

func args(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	var out []string
	for _, a := range container(t, objs)["args"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

func TestHelmTemplateDefaults(t *testing.T) {
	objs := template(t)
	k := kinds(objs)
	for kind, n := range map[string]int{"CustomResourceDefinition": 5, "Deployment": 1, "ServiceAccount": 1, "Service": 1,
		"PodDisruptionBudget": 1, "NetworkPolicy": 1, "Role": 1, "RoleBinding": 1, "ClusterRoleBinding": 2, "ClusterRole": 5,
		"ServiceMonitor": 0, "PrometheusRule": 0, "ConfigMap": 0, "Secret": 0} {
		if k[kind] != n {
			t.Errorf("%s: want %d, rendered %d", kind, n, k[kind])
		}
	}
	want := []string{"--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081"}
	if got := args(t, objs); !reflect.DeepEqual(got, want) {
		t.Errorf("args: want %q (no --watch-namespaces, no egress flags by default), got %q", want, got)
	}
	if img := container(t, objs)["image"]; img != "ghcr.io/cxops/cxops:"+appVersion(t) {
		t.Errorf("image %v: want the chart's appVersion %s", img, appVersion(t))
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" && o.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s lacks helm.sh/resource-policy: keep: uninstalling would delete every object", o.GetName())
		}
	}
}

// TestChartCRDsAndRBACMatchConfig checks the rendered CRDs and the manager's rules
// against config/, the output of controller-gen.
func TestChartCRDsAndRBACMatchConfig(t *testing.T) {
	objs := template(t)
	crds, _ := filepath.Glob(filepath.Join(root, "config/crd/bases/*.yaml"))
	for _, c := range crds {
		want := objects(t, string(readFile(t, strings.TrimPrefix(c, root+"/"))))[0]
		got := find(t, objs, "CustomResourceDefinition", want.GetName())
		if !reflect.DeepEqual(got.Object["spec"], want.Object["spec"]) {
			t.Errorf("CRD %s: the chart's spec differs from %s", want.GetName(), c)
		}
	}
	role := objects(t, string(readFile(t, "config/rbac/role.yaml")))[0]
	got := find(t, objs, "ClusterRole", "cxops-manager-role")
	if !reflect.DeepEqual(got.Object["rules"], role.Object["rules"]) {
		t.Errorf("ClusterRole cxops-manager-role: rules differ from config/rbac/role.yaml")
	}
}

func TestHelmTemplateMonitoring(t *testing.T) {
	objs := template(t, combinations[1].sets...)
	sm := find(t, objs, "ServiceMonitor", "cxops-controller-manager")
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	ep := eps[0].(map[string]any)
	if _, ok := ep["bearerTokenFile"]; ok {
		t.Error("ServiceMonitor uses the deprecated bearerTokenFile")
	}
	if name, _, _ := unstructured.NestedString(ep, "authorization", "credentials", "name"); name != "cxops-metrics-reader-token" {
		t.Errorf("authorization credentials from %q, want the token Secret cxops-metrics-reader-token", name)
	}
	find(t, objs, "Secret", "cxops-metrics-reader-token")
	if skip, _, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify"); skip {
		t.Error("ServiceMonitor skips TLS verification although a certificate Secret is given")
	}
	if sn, _, _ := unstructured.NestedString(ep, "tlsConfig", "serverName"); sn != "cxops-controller-manager-metrics.cxops-system.svc" {
		t.Errorf("serverName %q", sn)
	}
	if ca, _, _ := unstructured.NestedString(ep, "tlsConfig", "ca", "secret", "name"); ca != "cxops-metrics-server-cert" {
		t.Errorf("CA from %q", ca)
	}
	// The certificate is mounted where controller-runtime's metrics server reads it.
	mounts := container(t, objs)["volumeMounts"].([]any)
	if !strings.Contains(toString(t, mounts), "/tmp/k8s-metrics-server/serving-certs") {
		t.Error("the metrics certificate is not mounted at /tmp/k8s-metrics-server/serving-certs")
	}
	// The PrometheusRule carries exactly the groups of config/prometheus/alerts.yaml.
	rule := find(t, objs, "PrometheusRule", "cxops-alerts")
	want := objects(t, string(readFile(t, "config/prometheus/alerts.yaml")))[0]
	if !reflect.DeepEqual(rule.Object["spec"], want.Object["spec"]) {
		t.Error("PrometheusRule: groups differ from config/prometheus/alerts.yaml")
	}
	// Without a certificate, a ServiceMonitor is refused unless verification is
	// explicitly skipped.
	if _, err := runErr(helm(t), "template", "cxops", chart, "--set", "metrics.serviceMonitor.enabled=true"); err == nil ||
		!strings.Contains(err.Error(), "metrics.tls.secretName") {
		t.Errorf("a ServiceMonitor without a CA rendered: %v", err)
	}
}

func TestHelmTemplateDashboard(t *testing.T) {
	cm := find(t, template(t, combinations[2].sets...), "ConfigMap", "cxops-dashboard")
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Error("the dashboard ConfigMap lacks the grafana_dashboard label")
	}
	got, _, _ := unstructured.NestedString(cm.Object, "data", "cxops-dashboard.json")
	if got != strings.TrimRight(string(readFile(t, "config/grafana/cxops-dashboard.json")), "\n") {
		t.Error("the dashboard differs from config/grafana/cxops-dashboard.json")
	}
}

func TestHelmTemplateToggles(t *testing.T) {
	k := kinds(template(t, combinations[3].sets...))
	if k["PodDisruptionBudget"] != 0 || k["NetworkPolicy"] != 0 {
		t.Errorf("PDB and NetworkPolicy turned off but rendered: %v", k)
	}
	objs := template(t, combinations[5].sets...)
	k = kinds(objs)
	if k["CustomResourceDefinition"] != 0 || k["Service"] != 0 || k["Role"] != 0 {
		t.Errorf("crds.install=false, metrics.enabled=false, leaderElection.enabled=false: rendered %v", k)
	}
	if got := args(t, objs); !reflect.DeepEqual(got, []string{"--metrics-bind-address=0", "--health-probe-bind-address=:8081"}) {
		t.Errorf("args %q", got)
	}
	if _, err := runErr(helm(t), "template", "cxops", chart, "--set", "leaderElection.enabled=false"); err == nil {
		t.Error("two replicas without leader election rendered")
	}
	scoped := template(t, "watchNamespaces={team-a,team-b}", "logLevel=debug")
	got := args(t, scoped)
	if !contains(got, "--watch-namespaces=team-a,team-b") || !contains(got, "--zap-log-level=debug") {
		t.Errorf("args %q", got)
	}
	// Namespace-scoped: the manager's rules are Roles in the watched namespaces,
	// never a ClusterRole.
	managerRoles := map[string]string{}
	for _, o := range scoped {
		if strings.HasSuffix(o.GetName(), "-manager-role") {
			managerRoles[o.GetKind()+"/"+o.GetNamespace()] = o.GetName()
		}
		if o.GetKind() == "ClusterRole" && strings.HasSuffix(o.GetName(), "-manager-role") {
			t.Errorf("watchNamespaces set, but the manager still gets a ClusterRole %s", o.GetName())
		}
	}
	for _, ns := range []string{"team-a", "team-b"} {
		if managerRoles["Role/"+ns] == "" {
			t.Errorf("no manager Role in %s: %v", ns, managerRoles)
		}
	}
	bindings := 0
	for _, o := range scoped {
		if o.GetKind() == "RoleBinding" && o.GetName() == "cxops-manager-rolebinding" {
			bindings++
		}
	}
	if bindings != 2 {
		t.Errorf("%d manager RoleBindings, want one in each watched namespace", bindings)
	}
}

func TestHelmTemplateEgress(t *testing.T) {
	objs := template(t, combinations[4].sets...)
	got := args(t, objs)
	for _, a := range []string{"--egress-allow=10.0.0.0/8,2001:db8::/32", "--egress-deny=10.1.0.0/16", "--status-heartbeat=10m"} {
		if !contains(got, a) {
			t.Errorf("args %q lack %s", got, a)
		}
	}
	np := find(t, objs, "NetworkPolicy", "")
	egress, _, _ := unstructured.NestedSlice(np.Object, "spec", "egress")
	text := toString(t, egress)
	for _, cidr := range []string{"10.0.0.0/8", "2001:db8::/32"} {
		if !strings.Contains(text, cidr) {
			t.Errorf("NetworkPolicy egress lacks the allowed %s:\n%s", cidr, text)
		}
	}
	if strings.Contains(text, "except") {
		t.Errorf("with an allow list, egress must not open everything else:\n%s", text)
	}
	// Without an allow list, the denied CIDRs and link-local addresses are excepted.
	np = find(t, template(t, "egress.deny={10.1.0.0/16,fd00::/8}"), "NetworkPolicy", "")
	egress, _, _ = unstructured.NestedSlice(np.Object, "spec", "egress")
	text = toString(t, egress)
	for _, cidr := range []string{"169.254.0.0/16", "10.1.0.0/16", "fe80::/10", "fd00::/8"} {
		if !strings.Contains(text, cidr) {
			t.Errorf("NetworkPolicy egress does not except %s:\n%s", cidr, text)
		}
	}
	// A value that is not a CIDR list never reaches the flag.
	if _, err := runErr(helm(t), "template", "cxops", chart, "--set", "egress.allow={10.0.0.0/8 --leader-elect=false}"); err == nil {
		t.Error("a non-CIDR egress value rendered")
	}
}

// TestGoMemLimitBelowMemoryLimit: GOMEMLIMIT was the memory limit itself, which
// leaves the runtime no room before the kernel's OOM kill. It must be about 90%.
func TestGoMemLimitBelowMemoryLimit(t *testing.T) {
	check := func(where string, c map[string]any) {
		t.Helper()
		limit, _, _ := unstructured.NestedString(c, "resources", "limits", "memory")
		var gml string
		for _, e := range c["env"].([]any) {
			if e.(map[string]any)["name"] == "GOMEMLIMIT" {
				gml, _ = e.(map[string]any)["value"].(string)
			}
		}
		if gml == "" {
			t.Errorf("%s: GOMEMLIMIT has no literal value", where)
			return
		}
		// GOMEMLIMIT uses the runtime's suffixes (MiB, GiB); a quantity uses Mi, Gi.
		q, err := resource.ParseQuantity(strings.TrimSuffix(strings.TrimSuffix(gml, "B"), "i") + "i")
		if err != nil {
			t.Errorf("%s: GOMEMLIMIT %q: %v", where, gml, err)
			return
		}
		l := resource.MustParse(limit)
		ratio := float64(q.Value()) / float64(l.Value())
		if ratio < 0.85 || ratio > 0.95 {
			t.Errorf("%s: GOMEMLIMIT %s is %.0f%% of the memory limit %s, want about 90%%", where, gml, 100*ratio, limit)
		}
	}
	var mgr *unstructured.Unstructured
	for _, o := range objects(t, string(readFile(t, "config/manager/manager.yaml"))) {
		if o.GetKind() == "Deployment" {
			mgr = o
		}
	}
	cs, _, _ := unstructured.NestedSlice(mgr.Object, "spec", "template", "spec", "containers")
	check("config/manager", cs[0].(map[string]any))
	check("chart defaults", container(t, template(t)))
	check("chart 1Gi", container(t, template(t, "resources.limits.memory=1Gi")))
	check("chart 3000Mi", container(t, template(t, "resources.limits.memory=3000Mi")))
	if _, err := runErr(helm(t), "template", "cxops", chart, "--set", "resources.limits.memory=1G"); err == nil {
		t.Error("a memory limit GOMEMLIMIT cannot be derived from rendered without goMemLimit")
	}
}

// TestChartDeploymentHardenedLikeConfig: the chart's pod is as hardened as
// config/manager's.
func TestChartDeploymentHardenedLikeConfig(t *testing.T) {
	var mgr *unstructured.Unstructured
	for _, o := range objects(t, string(readFile(t, "config/manager/manager.yaml"))) {
		if o.GetKind() == "Deployment" {
			mgr = o
		}
	}
	chartDep := find(t, template(t), "Deployment", "")
	for _, path := range [][]string{
		{"spec", "replicas"},
		{"spec", "template", "spec", "securityContext"},
		{"spec", "template", "spec", "automountServiceAccountToken"},
		{"spec", "template", "spec", "terminationGracePeriodSeconds"},
	} {
		w, _, _ := unstructured.NestedFieldNoCopy(mgr.Object, path...)
		g, _, _ := unstructured.NestedFieldNoCopy(chartDep.Object, path...)
		if !reflect.DeepEqual(toString(t, w), toString(t, g)) {
			t.Errorf("%s: chart %v, config/manager %v", strings.Join(path, "."), g, w)
		}
	}
	cs, _, _ := unstructured.NestedSlice(mgr.Object, "spec", "template", "spec", "containers")
	want, got := cs[0].(map[string]any), container(t, []*unstructured.Unstructured{chartDep})
	for _, k := range []string{"securityContext", "livenessProbe", "readinessProbe", "resources", "ports"} {
		if toString(t, want[k]) != toString(t, got[k]) {
			t.Errorf("container %s: chart %v, config/manager %v", k, got[k], want[k])
		}
	}
}

func appVersion(t *testing.T) string {
	t.Helper()
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(readFile(t, chart+"/Chart.yaml"), &c); err != nil || c.AppVersion == "" {
		t.Fatalf("Chart.yaml appVersion: %v", err)
	}
	return c.AppVersion
}

func toString(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
