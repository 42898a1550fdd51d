# meshctl's build. `make test` is what CI runs (.ci/run); it builds the test
# environment's binaries on first use.
SHELL := /usr/bin/env bash
GO ?= go
MODULE := github.com/meshctl/meshctl
VERSION ?= v0.1.0-dev
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w \
	-X $(MODULE)/pkg/version.version=$(VERSION) \
	-X $(MODULE)/pkg/version.commit=$(COMMIT) \
	-X $(MODULE)/pkg/version.date=$(DATE)
STATICCHECK_VERSION ?= v0.8.2
TEST_TIMEOUT ?= 20m

.PHONY: all build test testenv bench lint golden demo demo-down clean images

all: build

## build: the binaries, stamped with VERSION, into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

## testenv: etcd and kube-apiserver for the integration tests (cached under $XDG_CACHE_HOME)
testenv:
	@hack/testenv.sh >/dev/null

## dataplane-deps: iproute2 and nftables for the data-plane tests (test/dataplane)
.PHONY: dataplane-deps
dataplane-deps:
	@hack/dataplane-deps.sh

## browser-deps: Debian's chromium for the browser tests (pkg/dashboard)
.PHONY: browser-deps
browser-deps:
	@hack/browser-deps.sh

## test: unit, golden, integration (real API server), browser (headless Chromium) and data-plane (network namespaces) tests
test: testenv dataplane-deps browser-deps
	MESHCTL_TESTENV_ASSETS="$$(hack/testenv.sh)" $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

## golden: rewrite every golden file; review the diff before committing
golden: testenv
	MESHCTL_TESTENV_ASSETS="$$(hack/testenv.sh)" UPDATE_GOLDEN=1 $(GO) test -count=1 ./...

## bench: every benchmark, with allocations
bench: testenv
	MESHCTL_TESTENV_ASSETS="$$(hack/testenv.sh)" $(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

## lint: gofmt, go vet and staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## demo: build everything and run the operator journey on the local cluster (root), or on $KUBECONFIG's cluster when set; leaves it running
demo:
	@LDFLAGS='$(LDFLAGS)' hack/demo/demo.sh

## demo-down: undo make demo: cluster-down for the local cluster; on $KUBECONFIG's cluster, delete the examples and uninstall the mesh
demo-down:
	@hack/demo/down.sh

# ---- the mesh's images, pushed to a registry without Docker (hack/images/meshimage) ----
REGISTRY ?=
IMAGE_ARCHES ?= amd64 arm64
IMAGES_FLAGS ?=

## images: build mesh-proxy and mesh-controller for IMAGE_ARCHES on the pinned base and push REGISTRY/NAME:VERSION (IMAGES_FLAGS=-insecure for a plain-HTTP registry)
images:
	@test -n "$(REGISTRY)" || { echo "make images: set REGISTRY, such as REGISTRY=registry.example.com/team"; exit 2; }
	@rm -rf dist/images && mkdir -p dist/images/bin
	@for arch in $(IMAGE_ARCHES); do for name in mesh-proxy mesh-controller meshctl; do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/images/bin/$${name}_linux_$$arch ./cmd/$$name || exit 1; \
	done; done
	cd hack/images && $(GO) run ./meshimages -bin ../../dist/images/bin -registry $(REGISTRY) -tag $(VERSION) -push -sbom ../../dist/images/sbom $(IMAGES_FLAGS)

## clean: remove build output (the cached test binaries stay; see hack/testenv.sh)
clean:
	rm -rf bin/ dist/

# ---- the local single-node cluster and the end-to-end tests (hack/cluster) ----
.PHONY: cluster-up cluster-down e2e
E2E_FLAGS ?=

## cluster-up: a real single-node cluster on this machine (root; binaries are built once and cached under $XDG_CACHE_HOME/meshctl)
cluster-up:
	@hack/cluster/up.sh

## cluster-down: remove every process, mount, interface, iptables rule and file cluster-up created
cluster-down:
	@hack/cluster/down.sh

## e2e: the operator journey on the cluster from cluster-up (E2E_FLAGS go to go test)
e2e:
	@LDFLAGS='$(LDFLAGS)' hack/cluster/e2e.sh $(E2E_FLAGS)

## bench-proxy: mesh-proxy x2 vs direct vs nginx x2 at constant rates, in network namespaces (needs root; installs nginx/iproute2/nftables if missing)
.PHONY: bench-proxy
bench-proxy:
	hack/dataplane-deps.sh --bench
	$(GO) test -count=1 -run '^$$' -bench BenchmarkProxy -benchtime=1x -timeout 10m ./test/dataplane/

# ---- generated docs and the release configuration ----
.PHONY: docs release-check
# goreleaser is pinned to a release that builds with this Go 1.26 toolchain:
# v2.18 needs Go 1.27, and v2.16/v2.17 need go.digitalxero.dev/go-msix, which
# the module proxy refuses (403). `go run pkg@version` caches the linked
# binary, so only the first run compiles it.
GORELEASER ?= $(GO) run github.com/goreleaser/goreleaser/v2@v2.14.3

## docs: regenerate docs/cli from the cobra tree (the test that fails when they are stale, with -update)
docs: testenv
	MESHCTL_TESTENV_ASSETS="$$(hack/testenv.sh)" $(GO) test -count=1 -run '^TestCLIDocs$$' ./cmd/meshctl -update

## release-check: validate .goreleaser.yaml, build a snapshot release into dist/ (archives, their SBOMs, the krew manifest, the Homebrew cask; no signing), check what it wrote, and publish its images and chart to a registry in memory
release-check:
	$(GORELEASER) check
	$(GORELEASER) release --snapshot --clean --skip=sign
	@hack/release-check.sh dist
