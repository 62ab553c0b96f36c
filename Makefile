# Sabre's build and test entry points. `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 4s

.PHONY: test deps fmt-check vet unit fuzz-smoke bench bench-vpn build man install uninstall

test: deps fmt-check vet unit fuzz-smoke

# deps installs what the tests need on a fresh Debian machine (run as root):
# tshark decodes and decrypts ESP independently; strongSwan (charon with
# kernel-libipsec, swanctl) is the interop peer; nftables makes the NAT and
# loss of the interop tests; iproute2 the network namespaces; ping and curl
# the README walkthrough's commands (TestREADMEGateway).
DEB_PACKAGES := tshark strongswan-charon strongswan-swanctl libcharon-extra-plugins \
	libstrongswan-standard-plugins nftables iproute2 iputils-ping curl
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

# build, man and install: `make install` (as root) puts sabre in
# $(PREFIX)/sbin, its man pages in $(PREFIX)/share/man, the examples in
# $(PREFIX)/share/doc/sabre and the systemd unit in $(UNITDIR). DESTDIR
# stages the tree for a package. The man pages are generated from the text
# the commands print (`sabre man`), so they never disagree with `--help`.
PREFIX ?= /usr/local
UNITDIR ?= /etc/systemd/system
BUILDDIR ?= build

build:
	@mkdir -p $(BUILDDIR)
	$(GO) build -buildvcs=auto -trimpath -o $(BUILDDIR)/sabre ./cmd/sabre

man: build
	$(BUILDDIR)/sabre man -dir $(BUILDDIR)/man

install: build man
	install -D -m 0755 $(BUILDDIR)/sabre $(DESTDIR)$(PREFIX)/sbin/sabre
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/man/man8 $(BUILDDIR)/man/*.8
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/man/man5 $(BUILDDIR)/man/*.5
	install -D -m 0644 contrib/systemd/sabre.service $(DESTDIR)$(UNITDIR)/sabre.service
	mkdir -p $(DESTDIR)$(PREFIX)/share/doc/sabre
	cp -r examples $(DESTDIR)$(PREFIX)/share/doc/sabre/
	install -d -m 0700 $(DESTDIR)/etc/sabre

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/sabre $(DESTDIR)$(UNITDIR)/sabre.service \
		$(DESTDIR)$(PREFIX)/share/man/man8/sabre.8 $(DESTDIR)$(PREFIX)/share/man/man8/sabre-ipsec.8 \
		$(DESTDIR)$(PREFIX)/share/man/man8/sabre-ike.8 $(DESTDIR)$(PREFIX)/share/man/man5/ike_rc.5
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/sabre
