# A thin wrapper over cargo and the test scripts.
#   make test       everything CI runs: format, lints, Rust, C, packaging and binding tests
#   make demo       a token and a 401 from the bundled test server
#   make build      the release libraries in target/release
#   make install    PREFIX=/usr/local LIBDIR=lib DESTDIR= (and make uninstall)
#   make deb        libcriteo-oauth0 and libcriteo-oauth-dev packages in build/deb
#   make fuzz       every fuzz target for FUZZ_SECONDS (default 60); needs cargo-fuzz
#   make bench      criteo-oauth against libcurl on loopback nginx (see BENCHMARKS.md)

CARGO ?= cargo
PREFIX ?= /usr/local
LIBDIR ?= lib
DESTDIR ?=

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
MINOR := $(word 2,$(subst ., ,$(VERSION)))
RELEASE := target/release
NATIVE_STATIC_LIBS = $(shell scripts/native-static-libs.sh)
# From a CMake package directory ($(LIBDIR)/cmake/criteo-oauth) back up to PREFIX.
TO_PREFIX := $(shell echo "$(LIBDIR)/cmake/criteo-oauth" | sed 's|[^/][^/]*|..|g')

lib_dir = $(DESTDIR)$(PREFIX)/$(LIBDIR)
include_dir = $(DESTDIR)$(PREFIX)/include
cmake_dir = $(lib_dir)/cmake/criteo-oauth
substitute = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	-e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' -e 's|@MINOR@|$(MINOR)|g' \
	-e 's|@TO_PREFIX@|$(TO_PREFIX)|g' \
	-e 's|@NATIVE_STATIC_LIBS@|$(NATIVE_STATIC_LIBS)|g' \
	-e 's|@STATIC_LINK_LIBRARIES@|$(subst $() ,;,$(patsubst -l%,%,$(NATIVE_STATIC_LIBS)))|g'

.PHONY: all build test lint test-rust test-c test-packaging test-bindings demo install uninstall deb fuzz bench clean

all: build

build:
	$(CARGO) build --release --lib
	scripts/link-soname.sh $(RELEASE)

test: lint test-rust test-c test-packaging test-bindings

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets --features criteo-oauth/test-panic -- -D warnings

test-rust:
	$(CARGO) build --workspace
	$(CARGO) test --workspace --features criteo-oauth/test-panic

test-c:
	$(CARGO) build --workspace
	tests/c/run.sh

test-bindings: build
	$(CARGO) build --workspace
	bindings/test.sh

test-packaging: build
	$(CARGO) build --workspace
	tests/packaging/run.sh

demo:
	$(CARGO) build --workspace
	scripts/demo.sh

install:
	test -f $(RELEASE)/libcriteo_oauth.so || { echo "run 'make build' first"; exit 1; }
	install -d $(lib_dir)/pkgconfig $(cmake_dir) $(include_dir)
	install -m 0644 $(RELEASE)/libcriteo_oauth.so $(lib_dir)/libcriteo_oauth.so.$(VERSION)
	ln -sf libcriteo_oauth.so.$(VERSION) $(lib_dir)/libcriteo_oauth.so.$(MAJOR)
	ln -sf libcriteo_oauth.so.$(MAJOR) $(lib_dir)/libcriteo_oauth.so
	install -m 0644 $(RELEASE)/libcriteo_oauth.a $(lib_dir)/libcriteo_oauth.a
	install -m 0644 include/criteo_oauth.h $(include_dir)/criteo_oauth.h
	$(substitute) packaging/criteo-oauth.pc.in >$(lib_dir)/pkgconfig/criteo-oauth.pc
	$(substitute) packaging/criteo-oauthConfig.cmake.in >$(cmake_dir)/criteo-oauthConfig.cmake
	$(substitute) packaging/criteo-oauthConfigVersion.cmake.in >$(cmake_dir)/criteo-oauthConfigVersion.cmake

uninstall:
	rm -f $(lib_dir)/libcriteo_oauth.so.$(VERSION) $(lib_dir)/libcriteo_oauth.so.$(MAJOR) \
		$(lib_dir)/libcriteo_oauth.so $(lib_dir)/libcriteo_oauth.a \
		$(include_dir)/criteo_oauth.h $(lib_dir)/pkgconfig/criteo-oauth.pc \
		$(cmake_dir)/criteo-oauthConfig.cmake $(cmake_dir)/criteo-oauthConfigVersion.cmake
	-rmdir $(cmake_dir) 2>/dev/null

fuzz:
	scripts/fuzz.sh

bench:
	mkdir -p build
	bench/run.sh

deb: build
	scripts/make-deb.sh $(VERSION) $(MAJOR)

clean:
	$(CARGO) clean
	rm -rf build
