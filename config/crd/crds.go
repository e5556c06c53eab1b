// Package crd embeds the cxops CustomResourceDefinitions generated into bases/, so
// that tools built from this module (the offline validator of `kubectl cx validate`)
// carry the exact schemas the API server enforces, even when installed with
// `go install` away from a checkout.
package crd

import "embed"

// Bases holds bases/*.yaml: one CustomResourceDefinition per cxops kind.
//
//go:embed bases/*.yaml
var Bases embed.FS
