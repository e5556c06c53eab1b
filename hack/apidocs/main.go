// Command apidocs generates the cxops API reference (Markdown) from the Go source
// of api/v1alpha1: the kinds, every type reachable from their specs and statuses,
// and the condition types and reasons.
//
// Usage, from the repository root:
//
//	go run ./hack/apidocs                            # print to stdout
//	go run ./hack/apidocs -o docs/reference/api.md   # write the file
//
// Everything comes from the source: doc comments (without marker lines) describe
// types and fields; +required/+optional, +kubebuilder:default and the
// +kubebuilder:validation markers (Enum, Minimum, Maximum, lengths, item counts,
// XValidation messages) fill the tables. The output is deterministic.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("o", "", "write the Markdown to this file instead of stdout")
	apiDir := flag.String("api", filepath.Join("api", "v1alpha1"), "directory of the API package")
	flag.Parse()

	doc, err := generate(*apiDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
	if *out == "" {
		_, _ = os.Stdout.Write(doc)
		return
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, doc) {
		return
	}
	if err := os.WriteFile(*out, doc, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
}
