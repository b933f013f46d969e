# Developer entry points. `make example` runs the example bundle; `make test`
# runs everything CI runs.

# Where the mixin components are built. CI points this outside the clone to
# reuse the build; tests and the example find the components through it.
MIXIN_TARGET ?= $(CURDIR)/mixins-wasm/target
MIXINS := $(MIXIN_TARGET)/wasm32-wasip2/release
# The example's private wasmix home (state store, compile cache).
EXAMPLE_HOME ?= $(CURDIR)/target/example-home
CARGO ?= cargo
BIN_DIR := $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(CURDIR)/target)/debug

export WASMIX_TEST_MIXINS := $(MIXINS)

.PHONY: all deps mixins lang-mixins native build example test bench bench-cli lint fmt clean install

all: build

mixins:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
	cd mixins-wasm && CARGO_TARGET_DIR=$(MIXIN_TARGET) $(CARGO) build --release --target wasm32-wasip2

# The mixins written in Python and JavaScript (componentize-py from PyPI,
# componentize-js from npm, both pinned and installed on first use).
lang-mixins:
	bash scripts/lang-mixins.sh $(MIXINS) $(MIXIN_TARGET)/lang-tools

# The exec mixin's logic as a native process, for the benchmarks.
native:
	cd mixins-wasm && CARGO_TARGET_DIR=$(MIXIN_TARGET) $(CARGO) build --release --features native --bin exec-native

build: mixins
	$(CARGO) build -p wasmix

# The example builds with the `example` profile (nothing optimised, see
# Cargo.toml): half the cold build of `build`, for a binary run once.
EXAMPLE_BIN := $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(CURDIR)/target)/example/wasmix

example: mixins
	$(CARGO) build --profile example -p wasmix
	WASMIX_HOME=$(EXAMPLE_HOME) WASMIX_MIXIN_PATH=$(MIXINS) API_TOKEN=example-token-value \
	  $(EXAMPLE_BIN) install examples/hello --cred api-token=env:API_TOKEN
	WASMIX_HOME=$(EXAMPLE_HOME) $(EXAMPLE_BIN) installation outputs hello-wasmix

# `make install` puts wasmix in $(PREFIX)/bin and the first-party mixins in
# $(PREFIX)/lib/wasmix/mixins, where the binary finds them built in.
PREFIX ?= $(HOME)/.local
FIRST_PARTY := exec helm3 kubernetes terraform az aws gcloud docker
RELEASE_DIR := $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(CURDIR)/target)/release

install: mixins
	$(CARGO) build --release -p wasmix
	install -d $(PREFIX)/bin $(PREFIX)/lib/wasmix/mixins
	install -m 0755 $(RELEASE_DIR)/wasmix $(PREFIX)/bin/wasmix
	for m in $(FIRST_PARTY); do install -m 0644 $(MIXINS)/wasmix_$$m.wasm $(PREFIX)/lib/wasmix/mixins/; done
	@echo "installed $(PREFIX)/bin/wasmix with the built-in mixins $(FIRST_PARTY)"

# Installs (or names) what the registry and container tests need, then runs everything.
deps:
	bash scripts/deps.sh

test: deps build lang-mixins
	cd mixins-wasm && CARGO_TARGET_DIR=$(MIXIN_TARGET) $(CARGO) test
	$(CARGO) test --workspace

bench: mixins native
	WASMIX_BENCH_NATIVE=$(MIXIN_TARGET)/release/exec-native $(CARGO) bench -p wasmix-e2e --bench steps

# Whole commands timed from outside, against Porter's process-per-step model.
bench-cli: mixins native
	$(CARGO) build --release -p wasmix
	for c in warm cold; do for d in host debug; do for n in 1 20; do \
	  WASMIX_BIN=$(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(CURDIR)/target)/release/wasmix \
	  MIXIN_TARGET=$(MIXIN_TARGET) bash scripts/bench-cli.sh $$n 21 $$d $$c; done; done; done

lint:
	$(CARGO) fmt --all --check
	cd mixins-wasm && $(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd mixins-wasm && CARGO_TARGET_DIR=$(MIXIN_TARGET) $(CARGO) clippy --all-targets --target wasm32-wasip2 -- -D warnings

fmt:
	$(CARGO) fmt --all
	cd mixins-wasm && $(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(MIXIN_TARGET) $(EXAMPLE_HOME)
