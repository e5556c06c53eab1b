package argocd

import (
	"flag"
	"os"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite argocd-cm.yaml from health.lua")

// fixture is one case of testdata/health_test.yaml, in the shape of Argo CD's own
// resource_customizations/*/health_test.yaml.
type fixture struct {
	Name         string         `json:"name"`
	HealthStatus healthStatus   `json:"healthStatus"`
	Object       map[string]any `json:"object"`
}

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// run evaluates the script the way Argo CD does: obj is a global table, the
// script returns a table with status and message.
func run(t *testing.T, obj map[string]any) healthStatus {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(Health); err != nil {
		t.Fatalf("script failed: %v", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("script returned %s, want a table", L.Get(-1).Type())
	}
	return healthStatus{Status: ret.RawGetString("status").String(), Message: lua.LVAsString(ret.RawGetString("message"))}
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	}
	panic("unexpected type")
}

func TestHealthScript(t *testing.T) {
	raw, err := os.ReadFile("testdata/health_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []fixture `json:"tests"`
	}
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[string]bool{}
	for _, f := range tests.Tests {
		t.Run(f.Name, func(t *testing.T) {
			got := run(t, f.Object)
			if got != f.HealthStatus {
				t.Errorf("got %+v, want %+v", got, f.HealthStatus)
			}
		})
		kind, _ := f.Object["kind"].(string)
		if seen[kind] == nil {
			seen[kind] = map[string]bool{}
		}
		seen[kind][f.HealthStatus.Status] = true
	}
	// Every kind is tested in every state the script can give it.
	want := map[string][]string{
		"SignalSource":  {"Progressing", "Degraded", "Healthy"},
		"Journey":       {"Progressing", "Degraded", "Unknown", "Healthy"},
		"Moment":        {"Progressing", "Degraded", "Unknown", "Healthy"},
		"RoadmapStream": {"Progressing", "Degraded", "Healthy"},
	}
	for kind, states := range want {
		for _, s := range states {
			if !seen[kind][s] {
				t.Errorf("no fixture for %s in state %s", kind, s)
			}
		}
	}
}

func TestConfigMapIsGeneratedFromTheScript(t *testing.T) {
	want := ConfigMap()
	if *update {
		if err := os.WriteFile("argocd-cm.yaml", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("argocd-cm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("config/argocd/argocd-cm.yaml is stale: run `make argocd`")
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(got, &cm); err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds {
		if cm.Data["resource.customizations.health.cx.cxops.io_"+k] != Health {
			t.Errorf("the snippet's script for %s is not health.lua", k)
		}
	}
}
