# cxops: a Kubernetes operator for customer-experience operations.

IMG ?= ghcr.io/cxops/cxops:dev
GO ?= go
CONTROLLER_GEN ?= $(GO) tool controller-gen
HELM ?= $(GO) tool helm
# The release version: the chart's appVersion (charts/cxops/Chart.yaml) unless set.
VERSION ?= $(shell awk '/^appVersion:/ {print $$2}' charts/cxops/Chart.yaml)
# The image of a release.
RELEASE_IMG ?= ghcr.io/cxops/cxops:$(VERSION)
# The version stamped into the binaries of make build and docker-build
# (`manager --version`, `kubectl cx version`, the manager's first log line): what
# git describe says (a tag, or the last tag, the commits since and the commit),
# or VERSION-dev outside a git checkout or before the first tag. make release
# stamps VERSION itself.
BUILD_VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo "$(VERSION)-dev")
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
VERSION_PKG = github.com/cxops/cxops/internal/version
LDFLAGS ?= -X $(VERSION_PKG).Version=$(BUILD_VERSION) -X $(VERSION_PKG).Commit=$(COMMIT)
# Test flags; CI may add -v.
GOTESTFLAGS ?=
# How long each fuzz target runs in `make fuzz`, and in `make test` after the unit tests.
FUZZTIME ?= 1m
# A count, not a duration: with a duration, Go 1.26's fuzzing coordinator can
# report a spurious "context deadline exceeded" at the deadline on a busy machine
# (golang/go#75804, fixed in Go 1.27). 25000 runs take about 2-5 s per target here.
FUZZTIME_TEST ?= 25000x
# The fuzz targets `make test` runs (package:target): what a tenant writes and
# cxops parses (query templates, durations and decimals, JSON selection, the
# truncation of messages). `make fuzz` runs every target of the module.
FUZZ_TEST_TARGETS ?= internal/providers:FuzzRenderQuery internal/providers:FuzzJSONSelect \
	internal/engine:FuzzCompile internal/textutil:FuzzTruncate

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: crds ## Generate CRDs and RBAC from the API types and markers (and copy them into the chart and dist/install.yaml).
	@$(MAKE) --no-print-directory chart-sync build-installer

.PHONY: crds
crds: ## Generate only config/crd/bases and config/rbac/role.yaml from the types and markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: chart-sync
chart-sync: ## Copy the CRDs, RBAC, alerts and dashboard from config/ into charts/cxops/files.
	$(GO) test ./test/packaging -run TestChartFilesMatchConfig -count=1 -update

.PHONY: argocd
argocd: ## Regenerate config/argocd/argocd-cm.yaml from config/argocd/health.lua.
	$(GO) test ./config/argocd -run TestConfigMapIsGeneratedFromTheScript -update

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

# golangci-lint, with kube-api-linter built in, from the tools module (its
# dependencies stay out of go.mod).
GOLANGCI_LINT ?= bin/golangci-lint-kal

$(GOLANGCI_LINT): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && $(GO) build -o ../../$(GOLANGCI_LINT) sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (errcheck, staticcheck, revive, govet, unused, ineffassign).
	$(GOLANGCI_LINT) run ./...

.PHONY: lint-api
lint-api: $(GOLANGCI_LINT) ## Run kube-api-linter on the API types (.golangci-kal.yml; part of make test).
	$(GOLANGCI_LINT) run -c .golangci-kal.yml ./api/...

.PHONY: tidy-check
tidy-check: ## Fail when go.mod or go.sum is not what `go mod tidy` makes.
	$(GO) mod tidy -diff
	cd hack/tools && $(GO) mod tidy -diff

.PHONY: envtest
envtest: ## Build (once) the test control plane and print its directory (KUBEBUILDER_ASSETS).
	@hack/setup-envtest.sh

.PHONY: test
test: vet tidy-check lint lint-api ## Run all tests against a real API server, etcd, Prometheus and headless Chromium.
	@assets="$$(hack/setup-envtest.sh | tail -n 1)"; \
	hack/setup-prometheus.sh >&2; \
	chromium="$$(hack/setup-chromium.sh | tail -n 1)"; \
	echo "KUBEBUILDER_ASSETS=$$assets"; \
	KUBEBUILDER_ASSETS="$$assets" CXOPS_CHROMIUM="$$chromium" $(GO) test $(GOTESTFLAGS) ./...
	@for t in $(FUZZ_TEST_TARGETS); do \
		echo "fuzz: $${t#*:} in ./$${t%%:*} for $(FUZZTIME_TEST)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME_TEST) "./$${t%%:*}" || exit 1; \
	done

.PHONY: fuzz
fuzz: ## Run every fuzz target (func Fuzz* in a _test.go file) for FUZZTIME each (default 1m).
	$(call fuzz-each,$(FUZZTIME))

# fuzz-each runs every fuzz target of the module for $(1). go test fuzzes one
# target per package per run, hence the loop; a failing input is saved under the
# package's testdata/fuzz and stops the loop.
define fuzz-each
	@for file in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | sort); do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
			echo "fuzz: $$target in ./$$(dirname "$$file") for $(1)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(1) "./$$(dirname "$$file")" || exit 1; \
		done; \
	done
endef

.PHONY: test-packaging
test-packaging: ## Only the packaging tests: chart, bundle, alerts (promtool), krew manifest.
	@assets="$$(hack/setup-envtest.sh | tail -n 1)"; \
	KUBEBUILDER_ASSETS="$$assets" $(GO) test $(GOTESTFLAGS) ./test/packaging

.PHONY: helm-lint
helm-lint: ## Lint the Helm chart.
	$(HELM) lint --strict charts/cxops

.PHONY: promtool-test
promtool-test: ## Unit-test the alerts with promtool (config/prometheus/alerts_test.yaml).
	$(GO) test $(GOTESTFLAGS) ./test/packaging -run TestAlertRules

.PHONY: bench
bench: ## Run the benchmark (docs/operations.md, "Sizing and benchmarks"): BENCH_SIZES, BENCH_RUNS, BENCH_HEARTBEAT, ...; prints the goals and sizing tables.
	@mkdir -p bin/bench
	@# Built as the image builds it (Dockerfile): static, trimmed, stripped.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o bin/bench/manager ./cmd/manager
	@assets="$$(hack/setup-envtest.sh | tail -n 1)"; \
	CXOPS_BENCH=1 KUBEBUILDER_ASSETS="$$assets" BENCH_MANAGER="$(CURDIR)/bin/bench/manager" \
	BENCH_OUT="$${BENCH_OUT:-$(CURDIR)/bin/bench/report.md}" BENCH_LOG_DIR="$${BENCH_LOG_DIR:-$(CURDIR)/bin/bench}" \
	$(GO) test ./test/bench -run '^TestBench$$' -count=1 -v -timeout 180m

##@ Build

.PHONY: build
build: ## Build the manager, the development entry point (cxops-local) and the kubectl plugin into bin/.
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/manager ./cmd/manager
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/cxops-local ./cmd/cxops-local
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/kubectl-cx ./cmd/kubectl-cx

.PHONY: run
run: ## Run the manager (cmd/cxops-local): against the current cluster, or on a local control plane when none is reachable (CXOPS_LOCAL=1 forces it).
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/cxops-local ./cmd/cxops-local
	bin/cxops-local $(ARGS)

.PHONY: demo
demo: ## The whole story on a local control plane: healthy, drift, task opened, recovery, task resolved.
	hack/demo.sh

.PHONY: install-plugin
install-plugin: ## Install the kubectl plugin (kubectl cx) into $GOBIN.
	$(GO) install -ldflags "$(LDFLAGS)" ./cmd/kubectl-cx

.PHONY: docs
docs: ## Regenerate the API reference in docs/reference/api.md.
	$(GO) run ./hack/apidocs -o docs/reference/api.md

.PHONY: build-installer
build-installer: ## Write dist/install.yaml: config/default with the image RELEASE_IMG (VERSION).
	@mkdir -p dist
	@{ echo "# cxops $(VERSION): CRDs, RBAC and the manager. Generated by make build-installer; do not edit."; \
	  echo "# kubectl apply --server-side -f install.yaml"; \
	  hack/kustomize-image.sh $(RELEASE_IMG); } > dist/install.yaml.tmp
	@mv dist/install.yaml.tmp dist/install.yaml
	@echo "dist/install.yaml ($(RELEASE_IMG))"

.PHONY: release
release: build-installer ## Cross-build the manager and kubectl-cx archives, checksums, the krew manifest and the chart into dist/release.
	COMMIT="$(COMMIT)" hack/release.sh "$(VERSION)" dist/release
	$(HELM) package charts/cxops --version "$(VERSION:v%=%)" --app-version "$(VERSION)" -d dist/release
	cp dist/install.yaml dist/release/install.yaml

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build --build-arg VERSION="$(BUILD_VERSION)" --build-arg COMMIT="$(COMMIT)" -t $(IMG) .

##@ Deployment

.PHONY: install
install: ## Install the CRDs into the cluster of the current kubeconfig.
	kubectl apply --server-side -k config/crd

.PHONY: uninstall
uninstall: ## Remove the CRDs (and every cxops object) from the cluster.
	kubectl delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: ## Deploy the manager (CRDs, RBAC, Deployment) to the current cluster; IMG sets the image.
	hack/kustomize-image.sh $(IMG) | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the manager from the current cluster.
	kubectl delete --ignore-not-found -k config/default
