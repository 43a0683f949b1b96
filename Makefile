# checkpointctl-image: build, install and package.
#
# Make only builds and installs (bootc's rule): no sudo, no container engine. `make help`
# lists the targets. Packagers set PREFIX/LIBEXECDIR/MANDIR and DESTDIR; DESTDIR is never
# baked into PREFIX, and `install` never builds (run `make build docs` first).

DESTDIR ?=
PREFIX ?= /usr/local
LIBEXECDIR ?= $(PREFIX)/libexec
# Debian-style packages sometimes use /usr/lib/...; override LIBEXECDIR or HELPERDIR.
HELPERDIR ?= $(LIBEXECDIR)/checkpointctl
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man

CARGO ?= cargo
GOMD2MAN ?= go-md2man
# CI builds exactly what Cargo.lock says.
LOCKED := $(if $(CI),--locked,)
# Label installed files correctly when SELinux is on.
SELINUXOPT ?= $(shell test -x /usr/sbin/selinuxenabled && /usr/sbin/selinuxenabled && echo -Z)

# `make debug=1 build` builds the dev profile instead of release.
debug ?=
PROFILE := $(if $(debug),debug,release)
PROFILE_FLAG := $(if $(debug),,--release)

CARGO_TARGET_DIR ?= target
export CARGO_TARGET_DIR
# version.rs reads it with option_env!; tarball builds without git say "unknown".
GIT_COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
export GIT_COMMIT

NAME := checkpointctl-image
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
BIN := $(CARGO_TARGET_DIR)/$(PROFILE)/$(NAME)
MANPAGES_MD := $(sort $(wildcard man/*.1.md))
MANPAGES := $(MANPAGES_MD:%.md=%)

DEMO_DIR ?= target/demo
DEMO_ARCHIVE ?= tests/fixtures/podman-5.4.2/runc/counter-zstd.tar.zst
BENCH_ARGS ?=
DEB_DIR ?= target/deb
# CI runs `make test` before packaging; the package build itself skips the suite.
DEB_BUILD_OPTIONS ?= nocheck

.DEFAULT_GOAL := all

.PHONY: all
all: build docs ## Build the binary and the man pages (default)

.PHONY: build
build: ## Build the release binary (debug=1 for the dev profile)
	$(CARGO) build $(LOCKED) $(PROFILE_FLAG) --bin $(NAME)

.PHONY: docs
docs: $(MANPAGES) ## Build the man pages (man/*.1) with go-md2man

man/%.1: man/%.1.md
	$(GOMD2MAN) -in $< -out $@

.PHONY: install
install: install.bin install.man ## Install what `make build docs` built (never rebuilds)

.PHONY: install.bin
install.bin:
	@test -x "$(BIN)" || { echo "error: $(BIN) does not exist; run 'make build' first (install never builds)" >&2; exit 1; }
	install $(SELINUXOPT) -d -m 0755 $(DESTDIR)$(HELPERDIR)
	install $(SELINUXOPT) -m 0755 $(BIN) $(DESTDIR)$(HELPERDIR)/$(NAME)

.PHONY: install.man
install.man:
	@for m in $(MANPAGES); do test -f "$$m" || { echo "error: $$m does not exist; run 'make docs' first (install never builds)" >&2; exit 1; }; done
	install $(SELINUXOPT) -d -m 0755 $(DESTDIR)$(MANDIR)/man1
	install $(SELINUXOPT) -m 0644 $(MANPAGES) $(DESTDIR)$(MANDIR)/man1/

.PHONY: uninstall
uninstall: ## Remove what `make install` installed
	rm -f $(DESTDIR)$(HELPERDIR)/$(NAME)
	-rmdir $(DESTDIR)$(HELPERDIR) 2>/dev/null
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/man1/%,$(MANPAGES))

.PHONY: test
test: ## Run unit and integration tests (cargo test)
	$(CARGO) test $(LOCKED)

.PHONY: unit
unit: ## Run the unit tests only
	$(CARGO) test $(LOCKED) --lib --bins

.PHONY: integration
integration: ## Run the integration tests only (CHECKPOINTCTL_IMAGE=PATH to test an installed binary)
	$(CARGO) test $(LOCKED) --test '*'

.PHONY: validate
validate: docs ## fmt --check, clippy -D warnings, man pages build
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(LOCKED) --all-targets -- -D warnings

.PHONY: contrib-test
contrib-test: ## Test the contrib/ scripts (kubelet wrapper, restore hook) with fakes
	bash contrib/kubelet/test.sh
	bash contrib/hooks/test.sh

.PHONY: install-smoke
install-smoke: ## Install into a temp DESTDIR, check the exact file list, uninstall
	bash tests/install.sh

.PHONY: demo
demo: build ## Convert the bundled sample archive into oci:, oci-archive: and a throwaway store, then inspect
	rm -rf $(DEMO_DIR)
	mkdir -p $(DEMO_DIR)
	$(BIN) build $(DEMO_ARCHIVE) oci:$(DEMO_DIR)/oci:demo
	$(BIN) inspect oci:$(DEMO_DIR)/oci:demo
	$(BIN) build $(DEMO_ARCHIVE) oci-archive:$(DEMO_DIR)/demo.tar:demo
	$(BIN) inspect oci-archive:$(DEMO_DIR)/demo.tar:demo
	@# A throwaway containers-storage (never the host's store); vfs needs no mounts.
	@store='containers-storage:[vfs@$(abspath $(DEMO_DIR))/root+$(abspath $(DEMO_DIR))/runroot]demo:latest'; \
	echo "$(BIN) build $(DEMO_ARCHIVE) $$store"; \
	if out=$$($(BIN) build $(DEMO_ARCHIVE) "$$store" 2>&1); then \
		echo "$$out"; $(BIN) inspect "$$store"; \
	elif echo "$$out" | grep -q 'not implemented'; then \
		echo "note: this build has no containers-storage writer yet; skipped"; \
	else echo "$$out" >&2; exit 1; fi
	@echo "demo output is in $(DEMO_DIR)"

.PHONY: e2e
e2e: ## Real Podman/CRIU checkpoint -> build -> restore suite (tests/e2e/run.sh)
	bash tests/e2e/run.sh

.PHONY: bench
bench: ## Benchmarks (contrib/bench/bench.sh; BENCH_ARGS=--smoke for a quick run)
	bash contrib/bench/bench.sh $(BENCH_ARGS)

.PHONY: deb
deb: ## Build the Debian package into $(DEB_DIR) (dpkg-buildpackage on a copy with debian/)
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/$(NAME)-$(VERSION)
	@# Tracked and untracked-but-not-ignored files: what a release tarball would hold.
	git ls-files -z --cached --others --exclude-standard | \
		tar --null -T - --ignore-failed-read -cf - | tar -xf - -C $(DEB_DIR)/$(NAME)-$(VERSION)
	cp -r packaging/debian $(DEB_DIR)/$(NAME)-$(VERSION)/debian
	@# -d: Build-Depends name Debian's cargo/rustc, but bookworm's rustc (1.63) is older
	@# than rust-version (1.85); we build with the rustup toolchain on PATH instead.
	cd $(DEB_DIR)/$(NAME)-$(VERSION) && \
		GIT_COMMIT=$(GIT_COMMIT) CARGO_TARGET_DIR=$(abspath $(CARGO_TARGET_DIR)) \
		DEB_BUILD_OPTIONS="$(DEB_BUILD_OPTIONS)" \
		dpkg-buildpackage -us -uc -b -d
	@ls -1 $(DEB_DIR)/*.deb

.PHONY: vendor-tarball
vendor-tarball: ## Vendored crates for offline (RPM/DEB) builds: $(NAME)-v$(VERSION)-vendor.tar.gz
	rm -rf vendor
	$(CARGO) vendor --locked vendor >/dev/null
	tar -czf $(NAME)-v$(VERSION)-vendor.tar.gz vendor
	@echo $(NAME)-v$(VERSION)-vendor.tar.gz

.PHONY: clean
clean: ## Remove build output, man pages, demo and package output
	$(CARGO) clean
	rm -f $(MANPAGES)
	rm -rf vendor $(NAME)-v*-vendor.tar.gz target/demo target/deb

.PHONY: help
help: ## Show this help
	@echo "Usage: make [TARGET] [VARIABLE=value ...]"
	@echo
	@echo "Targets:"
	@grep -E '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-16s %s\n", $$1, $$2}'
	@echo
	@echo "Variables (current value):"
	@echo "  DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) LIBEXECDIR=$(LIBEXECDIR)"
	@echo "  HELPERDIR=$(HELPERDIR) DATADIR=$(DATADIR) MANDIR=$(MANDIR)"
	@echo "  CARGO=$(CARGO) GOMD2MAN=$(GOMD2MAN) CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) debug=$(debug)"
