// Package argocd ships the Argo CD health check for cxops' kinds: the Lua script
// Argo CD runs, and the argocd-cm snippet that installs it (generated from the
// script; see argocd-cm.yaml).
package argocd

import (
	_ "embed"
	"strings"
)

// Health is the Lua health script (health.lua).
//
//go:embed health.lua
var Health string

// Kinds are the cxops kinds kept in Git; RemediationTasks are created by the
// controller and need no health check.
var Kinds = []string{"SignalSource", "Journey", "Moment", "RoadmapStream"}

// ConfigMap returns the argocd-cm snippet that installs Health for every kind in
// Kinds (one script, reused through a YAML anchor).
func ConfigMap() string {
	var b strings.Builder
	b.WriteString("# Generated from config/argocd/health.lua by `make argocd`; do not edit.\n")
	b.WriteString("# Merge into the argocd-cm ConfigMap of your Argo CD installation.\n")
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n  labels:\n    app.kubernetes.io/part-of: argocd\ndata:\n")
	for i, k := range Kinds {
		key := "  resource.customizations.health.cx.cxops.io_" + k + ":"
		if i > 0 {
			b.WriteString(key + " *cxops-health\n")
			continue
		}
		b.WriteString(key + " &cxops-health |\n")
		for _, line := range strings.Split(strings.TrimRight(Health, "\n"), "\n") {
			if line == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String()
}
