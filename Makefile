# nws -- NetWorkSpaces in C.  One Makefile for the whole tree.
#
#   make              build everything (libnws, nwsserver, nws, examples, tests)
#   make run          build, then run nwsserver in the foreground on the default ports
#   make check        build and run every test (Check prints the summary)
#   make SAN=1 check  the same with AddressSanitizer and UBSan (separate build dir)
#   make install      PREFIX=/usr/local DESTDIR=
#   make fuzz         build the libFuzzer harnesses (clang) and run each for
#                     FUZZ_SECONDS (default 60); FUZZ=name runs only that one
#   make soak         a real server under many clients for SOAK_SECONDS (300)
#   make valgrind     the protocol, server and client suites, nwsserver under valgrind
#   make bench-sessions what a session costs per operation (bench/sessions.sh)
#   make deb          the Debian packages (debian/) in build/deb/, checked by lintian
#   make deb-test     make deb in a fresh Debian 12, install with apt, run (root; CI)
#   make check-journal  the protocol suites with every server on a --journal
#   make crash        the long crash loop (SIGKILL and restart) for CRASH_ROUNDS
#   make bench-journal  only the journal rows of the benchmark (bench/journal.sh)
#   make bench-restart  a batch through three restarts of its server (bench/restart.sh)
#   make clean
#
# Missing build dependencies are installed first (.ci/deps, apt-get as root).

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(PREFIX)/bin
LIBDIR   = $(PREFIX)/lib
INCDIR   = $(PREFIX)/include
MANDIR   = $(PREFIX)/share/man

# The version is written once, in include/nws.h (NWS_VERSION_MAJOR/MINOR/MICRO);
# the programs' -V, libnws.pc and the web API take it from there.
HASH := \#
NWS_VER = $(shell sed -n 's/^$(HASH)define NWS_VERSION_$(1)  *\([0-9][0-9]*\).*/\1/p' include/nws.h)
VERSION := $(call NWS_VER,MAJOR).$(call NWS_VER,MINOR).$(call NWS_VER,MICRO)
ifneq ($(words $(subst ., ,$(VERSION))),3)
$(error cannot read NWS_VERSION_MAJOR/MINOR/MICRO from include/nws.h)
endif

ifdef SAN
B ?= build-san
else
B ?= build
endif

CC      ?= cc
PKGS     = libevent jansson openssl libssh
SERVER_PKGS = libevent_openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SERVER_LIBS := $(shell pkg-config --libs $(SERVER_PKGS) 2>/dev/null)
# nwsserver links only what it uses: no libssh (the Sleigh's launchers in
# libnws.a need it; the archive gives the server frame.o and the like only).
SERVER_LINK_LIBS := $(shell pkg-config --libs libevent jansson openssl $(SERVER_PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

WARN    = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -Wformat=2 -Wwrite-strings -Wpointer-arith
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(WARN) -fPIC -fvisibility=hidden \
          -Iinclude -Ilibnws -DNWS_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
LDFLAGS ?=
ifdef SAN
CFLAGS  += -O1 -fno-omit-frame-pointer \
           -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
# The fuzzing build (make fuzz sets it, with CC=clang and B=build-fuzz).
ifdef FUZZ_BUILD
CFLAGS  += -O1 -fno-omit-frame-pointer \
           -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
           -Wno-error
LDFLAGS += -fsanitize=address,undefined
endif

# sleigh/*.c (the Sleigh's client side: API, launchers, node lists) are
# library code: libnws.a and libnws.so are built from both folders.  Only
# sleigh/ and its users see sleigh/'s headers (SLEIGH_INC below): libnws/ is
# compiled without them, so libnws never depends on the Sleigh.
LIBNWS_SRC := $(wildcard libnws/*.c sleigh/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
TOOLS_SRC  := $(wildcard libnws/tools/*.c)
# The sleigh command (sleigh/cli/); the tests link its objects, all but
# main.o, to test its parts directly.
SLEIGH_CLI_SRC := $(wildcard sleigh/cli/*.c)
SLEIGH_CLI_LIB := $(filter-out sleigh/cli/main.c,$(SLEIGH_CLI_SRC))
WORKER_SRC := $(wildcard worker/*.c)
MODULE_SRC := $(wildcard tests/modules/*.c examples/modules/*.c bench/modules/*.c)
EXAMPLE_SRC:= $(wildcard examples/*.c)
BENCH_SRC  := $(wildcard bench/*.c)
TEST_SRC   := $(wildcard tests/*.c)
# The fuzzing harnesses: linked into the tests too, which replay their inputs.
FUZZ_SRC   := $(filter-out fuzz/libfuzzer_main.c,$(wildcard fuzz/*.c))
FUZZ_TARGETS = frame handshake server sleigh list reply sjson
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 300

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBNWS_A   = $(B)/lib/libnws.a
LIBNWS_SO  = $(B)/lib/libnws.so
SERVER_A   = $(B)/lib/libnwsserver.a
NWSSERVER  = $(B)/bin/nwsserver
TOOLS      = $(patsubst %.c,$(B)/bin/%,$(notdir $(TOOLS_SRC))) $(B)/bin/sleigh
WORKER     = $(if $(WORKER_SRC),$(B)/bin/nws-worker)
MODULES    = $(patsubst %.c,$(B)/modules/%.so,$(notdir $(MODULE_SRC)))
EXAMPLES   = $(patsubst examples/%.c,$(B)/examples/%,$(EXAMPLE_SRC))
BENCHES    = $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))
TESTBIN    = $(B)/tests/check_nws

.PHONY: all deps deps-test deps-bench run check install uninstall clean bench bench-pipe
.DEFAULT_GOAL := all
# Keep the objects of programs built through pattern rules (make deletes
# such intermediates by default, so every run rebuilt them).
.SECONDARY:

all: deps
	@$(MAKE) --no-print-directory build

.PHONY: build
build: $(LIBNWS_A) $(LIBNWS_SO) $(NWSSERVER) $(TOOLS) $(WORKER) $(MODULES) $(EXAMPLES) \
       $(BENCHES) $(TESTBIN)

deps:
	@sh .ci/deps

# The tests also need chromium, node and playwright-core (browser tests).
# After deps, never beside it: two apt-get runs at once (make -j) fail on
# apt's lock.
deps-test: deps
	@sh .ci/deps test

# make bench: redis-server, redis-benchmark and GNU parallel, the peers.
deps-bench: deps
	@sh .ci/deps bench

# Who sees the Sleigh's private headers (sleigh/*.h): sleigh/ itself (and
# sleigh/cli/), nws-worker, the tests, the fuzzers and bench; never libnws/
# nor server/.  Tests reach into the server's private header for its unit
# tests and into the sleigh command's (sleigh/cli/) for its parts.
SLEIGH_INC = -Isleigh
$(B)/obj/sleigh/%.o $(B)/obj/worker/%.o $(B)/obj/bench/%.o: CFLAGS += $(SLEIGH_INC)
$(B)/obj/tests/%.o: CFLAGS += -Iserver -Ifuzz $(SLEIGH_INC) -Isleigh/cli
$(B)/obj/fuzz/%.o: CFLAGS += -Iserver $(SLEIGH_INC)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(LIBNWS_A): $(call obj,$(LIBNWS_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBNWS_SO): $(call obj,$(LIBNWS_SRC))
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libnws.so.0 -o $@ $^ $(LDFLAGS) $(PKG_LIBS)

$(SERVER_A): $(call obj,$(SERVER_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(NWSSERVER): $(call obj,server/main.c) $(SERVER_A) $(LIBNWS_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(SERVER_LINK_LIBS) -lm

$(B)/bin/%: $(B)/obj/libnws/tools/%.o $(LIBNWS_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(PKG_LIBS)

# nws's interactive mode (libnws/tools/nws-cli/) edits lines with libedit,
# Debian's libedit-dev: history, key bindings and ~/.editrc come from a
# maintained library instead of code of ours.  Only nws links it.
NWS_CLI_SRC := $(wildcard libnws/tools/nws-cli/*.c)
EDIT_CFLAGS := $(shell pkg-config --cflags libedit 2>/dev/null)
EDIT_LIBS   := $(shell pkg-config --libs libedit 2>/dev/null)
$(B)/obj/libnws/tools/nws-cli/%.o: CFLAGS += $(EDIT_CFLAGS)

$(B)/bin/nws: $(B)/obj/libnws/tools/nws.o $(call obj,$(NWS_CLI_SRC)) $(LIBNWS_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) $(EDIT_LIBS)

$(B)/bin/sleigh: $(call obj,$(SLEIGH_CLI_SRC)) $(LIBNWS_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -lm

$(B)/bin/nws-worker: $(call obj,$(WORKER_SRC)) $(LIBNWS_A)
	@mkdir -p $(dir $@)
	$(CC) -rdynamic -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -ldl

# Task modules: shared objects that nws-worker loads (tests, examples).
$(B)/modules/%.so: tests/modules/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -o $@ $< $(LDFLAGS) $(PKG_LIBS) -lm

$(B)/modules/%.so: examples/modules/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -o $@ $< $(LDFLAGS) $(PKG_LIBS) -lm

$(B)/modules/%.so: bench/modules/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -o $@ $< $(LDFLAGS) $(PKG_LIBS) -lm

$(B)/examples/%: $(B)/obj/examples/%.o $(LIBNWS_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -lm

$(B)/bench/%: $(B)/obj/bench/%.o $(LIBNWS_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -lpthread -lm

$(TESTBIN): $(call obj,$(TEST_SRC) $(FUZZ_SRC) $(SLEIGH_CLI_LIB)) $(SERVER_A) $(LIBNWS_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(CHECK_LIBS) $(PKG_LIBS) $(SERVER_LIBS) -lm

# libnws.pc is written by make install, with the PREFIX of that install (a
# DESTDIR only stages the files, so it is not in the file).  jansson is
# Required: nws_json.h and nws_sleigh.h use its types, so programs need its
# flags too.  The rest is private: libnws.so carries it, and a program linked
# with libnws.a gets it from `pkg-config --static`.
# LIBDIR and INCDIR are written relative to prefix when under it (a Debian
# build sets LIBDIR to the multiarch directory).
PC_DIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
NWS_PC_LINES = 'prefix=$(PREFIX)' 'libdir=$(call PC_DIR,$(LIBDIR))' \
    'includedir=$(call PC_DIR,$(INCDIR))' '' \
    'Name: libnws' 'Description: NetWorkSpaces client library' 'Version: $(VERSION)' \
    'Requires: jansson' 'Requires.private: libevent openssl libssh' \
    'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lnws' 'Libs.private: -pthread'

run: all
	$(NWSSERVER) --port $${NWS_SERVER_PORT:-8765} --web-port $${NWS_WEB_PORT:-8766}

# The test runner finds the built programs through NWS_BIN_DIR.
check: deps-test all
	NWS_BIN_DIR=$(abspath $(B)/bin) NWS_EXAMPLES_DIR=$(abspath $(B)/examples) \
	NWS_MODULES_DIR=$(abspath $(B)/modules) NWS_SRC_DIR=$(CURDIR) $(if $(SAN),CK_TIMEOUT_MULTIPLIER=4 ASAN_OPTIONS=detect_leaks=1) \
	$(TESTBIN)

bench: deps-bench all
	NWS_BIN_DIR=$(abspath $(B)/bin) sh bench/run.sh $(abspath $(B))
	NWS_BIN_DIR=$(abspath $(B)/bin) sh bench/journal.sh $(abspath $(B))

# make bench-sessions: store+fetch pairs on one connection, strict and
# pipelined, sessions on (classic and session connections) vs --no-sessions.
.PHONY: bench-sessions
bench-sessions: all
	NWS_BIN_DIR=$(abspath $(B)/bin) sh bench/sessions.sh $(abspath $(B))

# make check-journal: the protocol suites again, every server they start
# keeping a journal (NWSTEST_JOURNAL=1 in tests/nwstest.c: --journal in a
# fresh directory; NWSTEST_FSYNC picks the policy, default always here so
# every reply waits for its fsync).  CI runs it after make check.
JOURNAL_SUITES ?= proto_blocking proto_close proto_commands proto_deadman proto_errors \
                  proto_handshake proto_hostile proto_iter proto_large proto_listings \
                  proto_modes proto_names proto_pipeline proto_workspaces
.PHONY: check-journal crash bench-journal
check-journal: deps-test all
	@failed=; for s in $(JOURNAL_SUITES); do \
	    echo "== check-journal: suite $$s (--journal, --fsync $${NWSTEST_FSYNC:-always})"; \
	    $(TEST_ENV) NWSTEST_JOURNAL=1 NWSTEST_FSYNC=$${NWSTEST_FSYNC:-always} \
	        CK_RUN_SUITE=$$s CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-3} $(TESTBIN) || \
	        failed="$$failed $$s"; \
	done; \
	if [ -n "$$failed" ]; then echo "check-journal: failed:$$failed"; exit 1; fi

# make crash: the long crash loop of tests/check_journal_crash.c (producers
# and consumers under SIGKILL and restart on the same journal); make check
# runs a few rounds of it.  CRASH_ROUNDS kills per policy, CRASH_SECONDS the
# longest life of a server between two kills (random below it).
CRASH_ROUNDS  ?= 200
CRASH_SECONDS ?= 1.5
crash: deps-test all
	$(TEST_ENV) CK_RUN_SUITE=journal_crash CRASH_ROUNDS=$(CRASH_ROUNDS) \
	    CRASH_SECONDS=$(CRASH_SECONDS) CK_DEFAULT_TIMEOUT=$$(( $(CRASH_ROUNDS) * 10 + 60 )) \
	    $(TESTBIN)

# make bench-journal: only the journal rows of bench/journal.sh (nwsserver
# --journal with each --fsync policy and none, against Redis appendonly).
bench-journal: deps-bench all
	NWS_BIN_DIR=$(abspath $(B)/bin) sh bench/journal.sh $(abspath $(B))

# make crash-sessions: the crash loop of tests/check_session_journal.c (two
# sessions storing and fetching under kill -9 and restart, every value
# exactly once), SESSJ_CRASH_OPS operations per --fsync policy; make check
# runs 1000.
SESSJ_CRASH_OPS ?= 20000
.PHONY: crash-sessions
crash-sessions: deps-test all
	$(TEST_ENV) CK_RUN_SUITE=session_journal CK_RUN_CASE=crash \
	    SESSJ_CRASH_OPS=$(SESSJ_CRASH_OPS) $(TESTBIN)

# make bench-session-journal: what sessions cost the journal (bytes per
# store, restart time with detached sessions): bench/session_journal.py.
.PHONY: bench-session-journal
bench-session-journal: all
	NWS_BIN_DIR=$(abspath $(B)/bin) python3 bench/session_journal.py

# The files-to-remote-nodes row alone (root: network namespaces, sshd).
.PHONY: bench-transfer
bench-transfer: deps-bench all
	sh bench/transfer.sh $(abspath $(B)/bin) $(abspath bench/out)

# make bench-pipe: only the --pipe over 1 GB rows (bench/pipe.sh), to stdout.
bench-pipe: deps-bench all
	PATH=$(abspath $(B)/bin):$$PATH NWS_WORKER=$(abspath $(B)/bin/nws-worker) \
	sh bench/pipe.sh $(abspath $(B)) $(abspath bench/out)

# make bench-restart: a 2,000-element batch on 4 workers through three kill -9
# and restarts of its server (sleigh -k and the C API): time lost per restart,
# elements run twice, results duplicated (bench/restart.sh; RUNS=3).
.PHONY: bench-restart
bench-restart: deps-test all
	sh bench/restart.sh $(abspath $(B))

# Fuzzing: clang's libFuzzer with ASan and UBSan, in build-fuzz/.  Each
# harness runs FUZZ_SECONDS on build-fuzz/corpus/<name> (where it keeps what
# it finds), fuzz/corpus/<name> (the seeds) and tests/data/fuzz-regressions/
# <name> (inputs that once failed); crashes land in build-fuzz/crashes/<name>/
# and should become regression inputs.  FUZZ=name runs one harness.
FUZZ_RUN = $(if $(FUZZ),$(FUZZ),$(FUZZ_TARGETS))
FUZZ_FLAGS ?=

fuzz:
	@sh .ci/deps fuzz
	@$(MAKE) --no-print-directory B=build-fuzz FUZZ_BUILD=1 CC=clang fuzz-build
	@set -e; for h in $(FUZZ_RUN); do \
	    mkdir -p build-fuzz/corpus/$$h build-fuzz/crashes/$$h; \
	    reg=tests/data/fuzz-regressions/$$h; [ -d $$reg ] || reg=; \
	    echo "== fuzz $$h ($(FUZZ_SECONDS) s)"; \
	    build-fuzz/fuzz/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -timeout=20 \
	        -rss_limit_mb=2048 -print_final_stats=1 $(FUZZ_FLAGS) \
	        -artifact_prefix=build-fuzz/crashes/$$h/ \
	        build-fuzz/corpus/$$h fuzz/corpus/$$h $$reg 2>build-fuzz/fuzz_$$h.log \
	    || { tail -60 build-fuzz/fuzz_$$h.log; exit 1; }; \
	    grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)' \
	        build-fuzz/fuzz_$$h.log; \
	done

.PHONY: fuzz fuzz-build
fuzz-build: $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_TARGETS))

$(B)/fuzz/fuzz_%: fuzz/libfuzzer_main.c $(call obj,$(FUZZ_SRC)) $(SERVER_A) $(LIBNWS_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver $(SLEIGH_INC) -DNWSFUZZ_TARGET=nwsfuzz_$* -fsanitize=fuzzer -o $@ $^ \
	    $(LDFLAGS) $(PKG_LIBS) $(SERVER_LIBS) -lpthread -lm

# The soak test (bench/soak.c): a real server, 16 producers, 16 consumers and
# 4 clients doing everything else for SOAK_SECONDS; see its header.
.PHONY: soak
soak: all
	$(B)/bench/soak --server $(abspath $(NWSSERVER)) --seconds $(SOAK_SECONDS)

# make valgrind: memcheck, zero errors and zero definite or indirect leaks.
# First the in-memory suites with the test binary itself under valgrind (the
# codec, the server's units, every fuzz seed and regression input through a
# whole in-memory server), then the protocol, server, client and web suites
# with every nwsserver they start under valgrind (NWS_TEST_VALGRIND; its logs
# go to $(B)/valgrind/ and must stay empty).  About three minutes, so it is
# not part of make check; CI runs it.  VALGRIND_SUITES narrows the second part.
VALGRIND_SELF   = frame server_units fuzz_replay
VALGRIND_SUITES ?= proto_blocking proto_commands proto_deadman proto_errors \
                   proto_handshake proto_hostile proto_iter proto_large proto_listings \
                   proto_modes proto_pipeline proto_workspaces hostile_clients \
                   server_cli auth tls cli libnws web_api sleigh_ws \
                   session_inflight session_hostile session_classic
VALGRIND = valgrind --quiet --error-exitcode=99 --leak-check=full \
           --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
TEST_ENV = NWS_BIN_DIR=$(abspath $(B)/bin) NWS_EXAMPLES_DIR=$(abspath $(B)/examples) \
           NWS_MODULES_DIR=$(abspath $(B)/modules) NWS_SRC_DIR=$(CURDIR)

.PHONY: valgrind
valgrind: all
	@sh .ci/deps fuzz
	@rm -rf $(B)/valgrind && mkdir -p $(B)/valgrind
	@set -e; for s in $(VALGRIND_SELF); do \
	    echo "== valgrind: suite $$s (in process)"; \
	    $(TEST_ENV) CK_RUN_SUITE=$$s CK_FORK=no $(VALGRIND) $(TESTBIN); \
	done
	@set -e; for s in $(VALGRIND_SUITES); do \
	    echo "== valgrind: suite $$s (servers under valgrind)"; \
	    $(TEST_ENV) CK_RUN_SUITE=$$s CK_TIMEOUT_MULTIPLIER=10 \
	        NWS_TEST_VALGRIND=$(abspath $(B)/valgrind) $(TESTBIN); \
	done
	@n=$$(ls $(B)/valgrind | wc -l); bad=$$(find $(B)/valgrind -name 'vg.*.log' -size +0); \
	if [ -n "$$bad" ]; then cat $$bad; echo "valgrind: errors in $$bad"; exit 1; fi; \
	echo "valgrind: $$n servers, no errors, no leaks"

install: all
	@$(MAKE) --no-print-directory install-files

# What a package needs: the libraries and programs (no tests, examples nor
# benches), then the files installed from them.  debian/rules uses these.
.PHONY: dist install-files
dist: $(LIBNWS_A) $(LIBNWS_SO) $(NWSSERVER) $(TOOLS) $(WORKER)

install-files: dist
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(NWSSERVER) $(TOOLS) $(WORKER) $(DESTDIR)$(BINDIR)/
	install -m 644 $(LIBNWS_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIBNWS_SO) $(DESTDIR)$(LIBDIR)/libnws.so.0
	ln -sf libnws.so.0 $(DESTDIR)$(LIBDIR)/libnws.so
	install -m 644 include/*.h $(DESTDIR)$(INCDIR)/
	printf '%s\n' $(NWS_PC_LINES) > $(DESTDIR)$(LIBDIR)/pkgconfig/libnws.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/libnws.pc
	for m in man/*.[0-9]; do s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	@# A real install as root into a directory the loader searches (such as
	@# /usr/local/lib): refresh its cache, or programs linked with -lnws do
	@# not find libnws.so.0.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && \
	    cat /etc/ld.so.conf /etc/ld.so.conf.d/*.conf 2>/dev/null | grep -qx '$(LIBDIR)'; then \
	    echo ldconfig; ldconfig; fi

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# make deb: the Debian packages nwsserver, nws-tools, libnws0 and libnws-dev
# (debian/), built by dpkg-buildpackage from a copy of the tree's files
# (those git knows and the new ones it does not ignore) in $(B)/deb/, where
# the .deb files land; then lintian, which must find nothing but the tags
# overridden in debian/*.lintian-overrides.
DEB_DIR = $(B)/deb
.PHONY: deb deb-test
deb:
	@sh .ci/deps deb
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
	    { echo "deb: debian/changelog is at $$v, include/nws.h at $(VERSION)"; exit 1; }
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/nws-$(VERSION)
	git ls-files -z --cached --others --exclude-standard | \
	    xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
	    tar --null -T - -cf - | tar -C $(DEB_DIR)/nws-$(VERSION) -xf -
	cd $(DEB_DIR)/nws-$(VERSION) && dpkg-buildpackage -us -uc -b
	lintian --fail-on error,warning --info --display-info \
	    $(DEB_DIR)/nws_$(VERSION)_$$(dpkg-architecture -qDEB_HOST_ARCH).changes
	@ls -1 $(DEB_DIR)/*.deb

# libnws0's ABI is listed in debian/libnws0.symbols: a build that loses one
# of its symbols fails (a new one only warns).  After a deliberate change,
# `make deb-symbols` rewrites the list from the last make deb (a removed
# symbol also wants a new SONAME: libnws.so.1, package libnws1).
.PHONY: deb-symbols
deb-symbols:
	{ echo 'libnws.so.0 libnws0 #MINVER#'; echo '* Build-Depends-Package: libnws-dev'; \
	  dpkg-gensymbols -q -plibnws0 -P$(DEB_DIR)/nws-$(VERSION)/debian/libnws0 -v$(VERSION) -O | \
	  grep '^ [^#]'; } > debian/libnws0.symbols

# make deb-test: make deb in a brand-new Debian 12 (../shared/tools/fresh-debian,
# as root), on a clean clone of the committed HEAD, then install the packages
# with apt and run them (.ci/deb-test).  Minutes: not part of make check; CI
# runs it.
FRESH_DEBIAN ?= $(firstword $(wildcard ../shared/tools/fresh-debian ../../shared/tools/fresh-debian))
deb-test:
	@[ "$$(id -u)" = 0 ] || { echo "deb-test: needs root (fresh-debian makes a chroot)"; exit 1; }
	@[ -n "$(FRESH_DEBIAN)" ] || { echo "deb-test: no ../shared/tools/fresh-debian: set FRESH_DEBIAN"; exit 1; }
	@command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
	@[ -z "$$(git status --porcelain --untracked-files=no)" ] || \
	    echo "deb-test: WARNING: uncommitted changes are not tested (the clone has HEAD only)"
	bash $(FRESH_DEBIAN) sh .ci/deb-test $$(git rev-parse HEAD)
