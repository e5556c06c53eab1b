// Package tools pins the development tools that would drag their own dependencies
// into the main module (golangci-lint): `make lint` builds them from this module.
package tools
