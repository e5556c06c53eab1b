// Package version is the version of the cxops binaries. The build stamps it with
//
//	-ldflags "-X github.com/cxops/cxops/internal/version.Version=v0.1.0 -X github.com/cxops/cxops/internal/version.Commit=0123abcd"
//
// (the Makefile's build and release targets and the Dockerfile do). A binary built
// without them (go build, go install) reports "dev" and the commit Go recorded
// from the checkout, if any.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Package is the import path the ldflags -X flags name.
const Package = "github.com/cxops/cxops/internal/version"

// Version is the release version (a git tag such as v0.1.0, or what git describe
// says between tags). Set by -ldflags -X.
var Version = "dev"

// Commit is the git commit the binary was built from. Set by -ldflags -X; when
// unset, the vcs.revision Go stamps into binaries built in a git checkout.
var Commit = ""

// GitCommit returns Commit, or the commit Go recorded at build time, or "unknown".
func GitCommit() string {
	if Commit != "" {
		return Commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// String is the one-line version a binary prints: "cxops v0.1.0 (commit 0123abcd, go1.26.0 linux/amd64)".
func String() string {
	return fmt.Sprintf("cxops %s (commit %s, %s %s/%s)", Version, GitCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
