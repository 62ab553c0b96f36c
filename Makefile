# Sabre's build and test entry points. `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 4s

.PHONY: test deps fmt-check vet unit fuzz-smoke bench

test: deps fmt-check vet unit fuzz-smoke

# deps installs what the tests need on a fresh Debian machine (run as root):
# tshark is the independent ESP decoder the engine tests decrypt with.
deps:
	@if ! command -v tshark >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing tshark"; \
			echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark >/dev/null; \
		else \
			echo "warning: tshark missing and not root: tshark tests will skip"; \
		fi; \
	fi
	$(GO) mod download

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -timeout 20m ./...

# fuzz-smoke runs every Fuzz target for a few seconds on top of its seed corpus.
fuzz-smoke:
	@./.ci/fuzz-smoke $(FUZZTIME)

bench:
	@./.ci/bench
