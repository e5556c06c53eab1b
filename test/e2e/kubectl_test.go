package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/internal/testenv"
)

func kubectlStdin(stdin string, args ...string) (string, error) {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSamplesAreAccepted applies every sample with kubectl: all must be accepted,
// and they must be listed by `kubectl get cx`.
func TestSamplesAreAccepted(t *testing.T) {
	g := NewWithT(t)
	requireTool(t, "kubectl", "end-to-end tests use the real kubectl")
	out, err := kubectl("create", "namespace", "e2e-samples")
	g.Expect(err).NotTo(HaveOccurred(), out)
	out, err = kubectl("apply", "-n", "e2e-samples", "-k", filepath.Join(testenv.RepoRoot(), "config", "samples"))
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("journey.cx.cxops.io/technician-buys-parts created"))

	entries, err := os.ReadDir(filepath.Join(testenv.RepoRoot(), "config", "samples"))
	g.Expect(err).NotTo(HaveOccurred())
	for _, e := range entries {
		if e.Name() == "kustomization.yaml" || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		out, err := kubectl("apply", "--dry-run=server", "-n", "e2e-samples", "-f", filepath.Join(testenv.RepoRoot(), "config", "samples", e.Name()))
		g.Expect(err).NotTo(HaveOccurred(), "%s: %s", e.Name(), out)
	}

	g.Eventually(func(g Gomega) {
		out, err := kubectl("get", "cx", "-n", "e2e-samples")
		g.Expect(err).NotTo(HaveOccurred(), out)
		for _, want := range []string{"journey.cx.cxops.io/technician-buys-parts", "moment.cx.cxops.io/stock-shown-is-real",
			"signalsource.cx.cxops.io/spare-parts-figures", "roadmapstream.cx.cxops.io/systems-and-data"} {
			g.Expect(out).To(ContainSubstring(want))
		}
		// The moments are reconciled: the static figures are all within target.
		out, err = kubectl("get", "moments", "-n", "e2e-samples", "-o", "jsonpath={.items[*].status.health}")
		g.Expect(err).NotTo(HaveOccurred(), out)
		g.Expect(strings.Fields(out)).To(HaveLen(5))
		g.Expect(strings.Fields(out)).To(HaveEach(Equal("Healthy")))
	}, time.Minute, 250*time.Millisecond).Should(Succeed())
}

// TestKubectlShowsCELMessages applies broken manifests and checks the message a
// person sees.
func TestKubectlShowsCELMessages(t *testing.T) {
	requireTool(t, "kubectl", "end-to-end tests use the real kubectl")
	cases := map[string]string{
		"target value is not a number": `apiVersion: cx.cxops.io/v1alpha1
kind: Moment
metadata: {name: broken-target, namespace: default}
spec:
  journeyRef: {name: parts}
  stage: order
  polarity: Pain
  owner: logistics
  objectives:
    - name: stock-accuracy
      kpi: {type: StockAccuracy, direction: HigherIsBetter}
      signal: {sourceRef: {name: figures}, query: stock}
      target: {operator: ">=", value: "99.5%"}
`,
		"two providers": `apiVersion: cx.cxops.io/v1alpha1
kind: SignalSource
metadata: {name: broken-source, namespace: default}
spec:
  static: {values: {nps: "40"}}
  http: {url: "https://surveys.example.com/nps"}
`,
		"duplicate stages": `apiVersion: cx.cxops.io/v1alpha1
kind: Journey
metadata: {name: broken-journey, namespace: default}
spec:
  persona: {name: Technician}
  stages:
    - {name: order, phase: Purchase}
    - {name: order, phase: AfterPurchase}
`,
	}
	want := map[string]string{
		"target value is not a number": "value must be a decimal number such as 99.5 or -10",
		"two providers":                "exactly one of prometheus, http or static must be set",
		"duplicate stages":             "stage names must be unique within a journey",
	}
	for name, manifest := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			out, err := kubectlStdin(manifest, "apply", "-f", "-")
			g.Expect(err).To(HaveOccurred(), out)
			g.Expect(out).To(ContainSubstring(want[name]))
		})
	}
}
