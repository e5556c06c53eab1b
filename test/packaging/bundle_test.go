package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cxops/cxops/internal/testenv"
)

// bundleBody is dist/install.yaml without its header comment.
func bundleBody(t *testing.T) string {
	t.Helper()
	lines := strings.Split(string(readFile(t, "dist/install.yaml")), "\n")
	for len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
		lines = lines[1:]
	}
	return strings.Join(lines, "\n")
}

// TestInstallBundleIsCurrent: dist/install.yaml is config/default with the image of
// the chart's appVersion, as `make build-installer` writes it.
func TestInstallBundleIsCurrent(t *testing.T) {
	requireTool(t, "kubectl", "kubectl kustomize renders config/default")
	img := "ghcr.io/cxops/cxops:" + appVersion(t)
	want := run(t, filepath.Join(root, "hack/kustomize-image.sh"), img)
	if bundleBody(t) != want {
		t.Fatal("dist/install.yaml is not config/default with " + img + ": run make build-installer")
	}
	objs := objects(t, want)
	if got := container(t, objs)["image"]; got != img {
		t.Errorf("bundle image %v, want %s", got, img)
	}
	for kind, n := range map[string]int{"Namespace": 1, "CustomResourceDefinition": 5, "Deployment": 1,
		"PodDisruptionBudget": 1, "NetworkPolicy": 1, "Service": 1} {
		if kinds(objs)[kind] != n {
			t.Errorf("bundle: want %d %s, got %d", n, kind, kinds(objs)[kind])
		}
	}
}

// TestKustomizeImageOverride: make deploy sets the image through kustomize (no
// sed), for a tag, a digest and a registry with a port.
func TestKustomizeImageOverride(t *testing.T) {
	requireTool(t, "kubectl", "kubectl kustomize renders config/default")
	digest := "sha256:" + strings.Repeat("ab", 32)
	for img, want := range map[string]string{
		"registry.local:5000/team/cxops:v9": "registry.local:5000/team/cxops:v9",
		"ghcr.io/cxops/cxops@" + digest:     "ghcr.io/cxops/cxops@" + digest,
	} {
		objs := objects(t, run(t, filepath.Join(root, "hack/kustomize-image.sh"), img))
		if got := container(t, objs)["image"]; got != want {
			t.Errorf("%s: rendered image %v", img, got)
		}
	}
}

// TestServiceMonitorAuthorizesAndVerifiesTLS: the ServiceMonitor used the deprecated
// bearerTokenFile and skipped certificate verification.
func TestServiceMonitorAuthorizesAndVerifiesTLS(t *testing.T) {
	sm := find(t, objects(t, string(readFile(t, "config/prometheus/monitor.yaml"))), "ServiceMonitor", "")
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	for _, e := range eps {
		ep := e.(map[string]any)
		if _, ok := ep["bearerTokenFile"]; ok {
			t.Error("endpoint uses the deprecated bearerTokenFile")
		}
		if skip, _, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify"); skip {
			t.Error("endpoint skips TLS verification")
		}
		secret, _, _ := unstructured.NestedString(ep, "authorization", "credentials", "name")
		if secret == "" {
			t.Error("endpoint has no authorization credentials")
		}
		// The token Secret is the metrics reader's, which config/prometheus creates.
		find(t, objects(t, string(readFile(t, "config/prometheus/metrics_reader.yaml"))), "Secret", secret)
		if ca, _, _ := unstructured.NestedString(ep, "tlsConfig", "ca", "secret", "name"); ca != "cxops-metrics-server-cert" {
			t.Errorf("CA from %q, want the Secret the manager mounts (cxops-metrics-server-cert)", ca)
		}
		if sn, _, _ := unstructured.NestedString(ep, "tlsConfig", "serverName"); sn != "cxops-controller-manager-metrics.cxops-system.svc" {
			t.Errorf("serverName %q is not the metrics Service's name", sn)
		}
	}
	// The manager mounts that Secret where controller-runtime's metrics server reads
	// its certificate, optionally (without it, a self-signed one).
	mgr := container(t, objects(t, bundleBodyOrKustomize(t)))
	if !strings.Contains(toString(t, mgr["volumeMounts"]), "/tmp/k8s-metrics-server/serving-certs") {
		t.Error("the manager does not mount the metrics certificate")
	}
}

func bundleBodyOrKustomize(t *testing.T) string {
	if _, err := os.Stat(filepath.Join(root, "dist/install.yaml")); err == nil {
		return bundleBody(t)
	}
	return string(readFile(t, "config/manager/manager.yaml"))
}

// monitoringCRDs are minimal CRDs for the Prometheus Operator kinds the chart
// renders, so that the dry run admits them (their schema is not checked).
const monitoringCRDs = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: prometheusrules.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: PrometheusRule, listKind: PrometheusRuleList, plural: prometheusrules, singular: prometheusrule}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`

// TestServerSideDryRun applies dist/install.yaml and the chart (every value
// combination) to a real API server: the CRDs for real, then every other object
// with a server-side dry run, which runs validation, defaulting and admission.
func TestServerSideDryRun(t *testing.T) {
	kubectl := requireTool(t, "kubectl", "applies the manifests")
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	k := func(t *testing.T, args ...string) string {
		t.Helper()
		return run(t, kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	}
	write := func(t *testing.T, name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k(t, "apply", "--server-side", "-f", write(t, "monitoring-crds.yaml", []byte(monitoringCRDs)))
	k(t, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
	k(t, "create", "namespace", "cxops-system")

	apply := func(t *testing.T, name string, objs []*unstructured.Unstructured) {
		t.Helper()
		var crds, rest []*unstructured.Unstructured
		for _, o := range objs {
			if o.GetKind() == "CustomResourceDefinition" {
				crds = append(crds, o)
			} else {
				rest = append(rest, o)
			}
		}
		if len(crds) > 0 {
			// For real: the objects after them are admitted only by served CRDs.
			k(t, "apply", "--server-side", "--force-conflicts", "--field-manager", name, "-f", write(t, name+"-crds.yaml", toYAML(t, crds)))
			var names []string
			for _, c := range crds {
				names = append(names, "crd/"+c.GetName())
			}
			k(t, append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, names...)...)
		}
		out := k(t, "apply", "--server-side", "--dry-run=server", "--field-manager", name, "-f", write(t, name+".yaml", toYAML(t, rest)))
		if n := strings.Count(out, "(server dry run)"); n != len(rest) {
			t.Errorf("%s: %d of %d objects applied:\n%s", name, n, len(rest), out)
		}
	}

	t.Run("install.yaml", func(t *testing.T) {
		apply(t, "bundle", objects(t, bundleBody(t)))
	})
	t.Run("config/prometheus", func(t *testing.T) {
		requireTool(t, "kubectl", "")
		apply(t, "prometheus", objects(t, k(t, "kustomize", filepath.Join(root, "config/prometheus"))))
	})
	for _, c := range combinations {
		t.Run("chart/"+c.name, func(t *testing.T) {
			apply(t, "helm-"+c.name, template(t, c.sets...))
		})
	}
	// config/crd/bases was installed by testenv; the chart's CRDs replaced them and
	// must still be the same schema.
	if out := k(t, "get", "crd", "moments.cx.cxops.io", "-o", "jsonpath={.metadata.annotations.helm\\.sh/resource-policy}"); out != "keep" {
		t.Errorf("the chart's CRD was not applied for real: annotation %q", out)
	}
}
