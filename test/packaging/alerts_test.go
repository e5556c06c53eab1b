package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestAlertRules runs `promtool test rules` on config/prometheus/alerts_test.yaml
// against the rule groups of config/prometheus/alerts.yaml.
func TestAlertRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "unit-tests the alerts; hack/setup-prometheus.sh installs it with the prometheus package")
	rule := find(t, objects(t, string(readFile(t, "config/prometheus/alerts.yaml"))), "PrometheusRule", "")
	groups, err := yaml.Marshal(rule.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alerts.rules.yaml"), groups, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), readFile(t, "config/prometheus/alerts_test.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runErr(promtool, "check", "rules", filepath.Join(dir, "alerts.rules.yaml"))
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := runErr(promtool, "test", "rules", filepath.Join(dir, "alerts_test.yaml")); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestEveryAlertHasUnitTests: every alert has a promtool case where it fires and
// one where it does not.
func TestEveryAlertHasUnitTests(t *testing.T) {
	var rules struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(readFile(t, "config/prometheus/alerts.yaml"), &rules); err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(readFile(t, "config/prometheus/alerts_test.yaml"), &tests); err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	var alerts []string
	for _, g := range rules.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if !fires[r.Alert] || !silent[r.Alert] {
				t.Errorf("alert %s: needs a promtool case where it fires (%v) and one where it does not (%v)", r.Alert, fires[r.Alert], silent[r.Alert])
			}
		}
	}
	for _, want := range []string{"CXOperatorDown", "CXOperatorNoLeader", "CXReconcileErrors", "CXWorkQueueBacklog", "CXProviderErrorRatio"} {
		if !strings.Contains(strings.Join(alerts, " "), want) {
			t.Errorf("operator-health alert %s is missing", want)
		}
	}
}
