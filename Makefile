# A thin wrapper over cargo and the C test scripts.
#   make test   everything CI runs: format, lints, Rust tests, C tests
#   make demo   a token and a 401 from the bundled test server
#   make build  the release libraries in target/release

CARGO ?= cargo

.PHONY: all build test lint test-rust test-c demo clean

all: build

build:
	$(CARGO) build --release

test: lint test-rust test-c

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace

test-c:
	$(CARGO) build --workspace
	tests/c/run.sh

demo:
	$(CARGO) build --workspace
	scripts/demo.sh

clean:
	$(CARGO) clean
	rm -rf build
