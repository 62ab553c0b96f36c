# Sabre's build and test entry points. `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 4s

.PHONY: test deps fmt-check vet unit fuzz-smoke bench bench-vpn

test: deps fmt-check vet unit fuzz-smoke

# deps installs what the tests need on a fresh Debian machine (run as root):
# tshark decodes and decrypts ESP independently; strongSwan (charon with
# kernel-libipsec, swanctl) is the interop peer; nftables makes the NAT and
# loss of the interop tests; iproute2 the network namespaces.
DEB_PACKAGES := tshark strongswan-charon strongswan-swanctl libcharon-extra-plugins \
	libstrongswan-standard-plugins nftables iproute2
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing$$missing"; \
			echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "warning: missing$$missing and not root: the tests that need them skip"; \
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

# bench-vpn: iperf3 through two `sabre run` namespaces and through strongSwan
# charon + kernel-libipsec between the same namespaces (root).
bench-vpn:
	@command -v iperf3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null
	@./bench/vpn.sh
