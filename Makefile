# A thin wrapper over cargo and the test scripts.
#   make test       everything CI runs: format, lints, Rust, C, packaging and binding tests
#   make demo       a token and a 401 from the bundled test server
#   make build      the release libraries in build/lib (versioned symbols)
#   make tool       build/bin/criteo-token, linked with RPATH (default PREFIX/LIBDIR; empty for none),
#                   and build/bin/criteo-test-server
#   make install    PREFIX=/usr/local LIBDIR=lib DESTDIR= RPATH= (and make uninstall)
#   make deb        the Debian packages, with dpkg-buildpackage, in build/deb
#   make man        regenerate man/criteo_oauth.3 from the header
#   make notices    regenerate THIRD-PARTY-NOTICES (needs cargo-about)
#   make abi-check  compare the library's ABI with abi/libcriteo_oauth.abi (abidiff)
#   make abi-update write the ABI baseline anew, after an intended change
#   make fuzz       every fuzz target for FUZZ_SECONDS (default 60); needs cargo-fuzz
#   make bench      criteo-oauth against libcurl on loopback nginx (see BENCHMARKS.md)

CARGO ?= cargo
PREFIX ?= /usr/local
LIBDIR ?= lib
DESTDIR ?=

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
MINOR := $(word 2,$(subst ., ,$(VERSION)))
RELEASE := $(or $(CARGO_TARGET_DIR),target)/release
BUILT := build/lib
RPATH ?= $(PREFIX)/$(LIBDIR)
CC ?= cc
# The release build keeps its debug information for the ABI gate; what is
# installed is stripped.
STRIP ?= strip
NATIVE_STATIC_LIBS = $(shell scripts/native-static-libs.sh)
# From a CMake package directory ($(LIBDIR)/cmake/criteo-oauth) back up to PREFIX.
comma := ,
TO_PREFIX := $(shell echo "$(LIBDIR)/cmake/criteo-oauth" | sed 's|[^/][^/]*|..|g')

lib_dir = $(DESTDIR)$(PREFIX)/$(LIBDIR)
include_dir = $(DESTDIR)$(PREFIX)/include
bin_dir = $(DESTDIR)$(PREFIX)/bin
man_dir = $(DESTDIR)$(PREFIX)/share/man
doc_dir = $(DESTDIR)$(PREFIX)/share/doc/criteo-oauth
cmake_dir = $(lib_dir)/cmake/criteo-oauth
test_server_dir = $(lib_dir)/criteo-oauth
substitute = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	-e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' -e 's|@MINOR@|$(MINOR)|g' \
	-e 's|@TO_PREFIX@|$(TO_PREFIX)|g' \
	-e 's|@NATIVE_STATIC_LIBS@|$(NATIVE_STATIC_LIBS)|g' \
	-e 's|@STATIC_LINK_LIBRARIES@|$(subst $() ,;,$(patsubst -l%,%,$(NATIVE_STATIC_LIBS)))|g'

.PHONY: all build tool test lint test-rust test-c test-packaging test-bindings demo install uninstall deb man \
	notices abi-check abi-update fuzz bench clean

all: build

build:
	$(CARGO) build --release --lib
	scripts/link-release.sh $(RELEASE) $(BUILT) $(VERSION) $(MAJOR)

tool: build
	mkdir -p build/bin
	$(CC) -std=c11 -Wall -Wextra -Werror $(CPPFLAGS) $(CFLAGS) -Iinclude -o build/bin/criteo-token \
		tools/criteo-token.c $(LDFLAGS) -L$(BUILT) -lcriteo_oauth $(if $(RPATH),-Wl$(comma)-rpath$(comma)$(RPATH))
	$(CARGO) build --release -p criteo-test-server --bin criteo-test-server
	install -m 0755 $(RELEASE)/criteo-test-server build/bin/criteo-test-server

# What the suites need is installed first (scripts/test-deps.sh: on Debian
# as root; elsewhere it prints the commands).
test:
	scripts/test-deps.sh
	$(MAKE) lint test-rust test-c test-packaging test-bindings

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

install: tool
	install -d $(lib_dir)/pkgconfig $(cmake_dir) $(include_dir) $(bin_dir) $(man_dir)/man1 $(man_dir)/man3 $(doc_dir) \
		$(test_server_dir)
	install -m 0644 $(BUILT)/libcriteo_oauth.so.$(VERSION) $(lib_dir)/libcriteo_oauth.so.$(VERSION)
	ln -sf libcriteo_oauth.so.$(VERSION) $(lib_dir)/libcriteo_oauth.so.$(MAJOR)
	ln -sf libcriteo_oauth.so.$(MAJOR) $(lib_dir)/libcriteo_oauth.so
	$(STRIP) --strip-unneeded $(lib_dir)/libcriteo_oauth.so.$(VERSION)
	install -m 0644 $(BUILT)/libcriteo_oauth.a $(lib_dir)/libcriteo_oauth.a
	$(STRIP) --strip-debug $(lib_dir)/libcriteo_oauth.a
	install -m 0644 include/criteo_oauth.h $(include_dir)/criteo_oauth.h
	install -m 0644 include/criteo_oauth.hpp $(include_dir)/criteo_oauth.hpp
	$(substitute) packaging/criteo-oauth.pc.in >$(lib_dir)/pkgconfig/criteo-oauth.pc
	$(substitute) packaging/criteo-oauthConfig.cmake.in >$(cmake_dir)/criteo-oauthConfig.cmake
	$(substitute) packaging/criteo-oauthConfigVersion.cmake.in >$(cmake_dir)/criteo-oauthConfigVersion.cmake
	install -m 0755 build/bin/criteo-token $(bin_dir)/criteo-token
	install -m 0755 build/bin/criteo-test-server $(test_server_dir)/criteo-test-server
	$(STRIP) $(test_server_dir)/criteo-test-server
	$(STRIP) $(bin_dir)/criteo-token
	install -m 0644 man/criteo-token.1 $(man_dir)/man1/criteo-token.1
	install -m 0644 man/criteo_oauth.3 $(man_dir)/man3/criteo_oauth.3
	install -m 0644 LICENSE THIRD-PARTY-NOTICES $(doc_dir)/

uninstall:
	rm -f $(lib_dir)/libcriteo_oauth.so.$(VERSION) $(lib_dir)/libcriteo_oauth.so.$(MAJOR) \
		$(lib_dir)/libcriteo_oauth.so $(lib_dir)/libcriteo_oauth.a \
		$(include_dir)/criteo_oauth.h $(include_dir)/criteo_oauth.hpp $(lib_dir)/pkgconfig/criteo-oauth.pc \
		$(cmake_dir)/criteo-oauthConfig.cmake $(cmake_dir)/criteo-oauthConfigVersion.cmake \
		$(bin_dir)/criteo-token $(man_dir)/man1/criteo-token.1 $(man_dir)/man3/criteo_oauth.3 \
		$(doc_dir)/LICENSE $(doc_dir)/THIRD-PARTY-NOTICES $(test_server_dir)/criteo-test-server
	-rmdir $(cmake_dir) $(doc_dir) $(test_server_dir) 2>/dev/null

man:
	scripts/man3.py include/criteo_oauth.h $(VERSION) >man/criteo_oauth.3

notices:
	scripts/notices.sh >THIRD-PARTY-NOTICES

abi-check: build
	scripts/abi.sh check $(BUILT)/libcriteo_oauth.so.$(VERSION)

abi-update: build
	scripts/abi.sh update $(BUILT)/libcriteo_oauth.so.$(VERSION)

fuzz:
	scripts/fuzz.sh

bench:
	mkdir -p build
	bench/run.sh
	$(CARGO) build --release -p criteo-test-server
	bench/shared.sh
	bench/refresh.sh
	bench/trace.sh
	bench/header.sh
	bench/many.sh

deb:
	scripts/make-deb.sh $(VERSION)

clean:
	$(CARGO) clean
	rm -rf build
