# nws -- NetWorkSpaces in C.  One Makefile for the whole tree.
#
#   make              build everything (libnws, nwsserver, nws, examples, tests)
#   make run          build, then run nwsserver in the foreground on the default ports
#   make check        build and run every test (Check prints the summary)
#   make SAN=1 check  the same with AddressSanitizer and UBSan (separate build dir)
#   make install      PREFIX=/usr/local DESTDIR=
#   make clean
#
# Missing build dependencies are installed first (.ci/deps, apt-get as root).

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(PREFIX)/bin
LIBDIR   = $(PREFIX)/lib
INCDIR   = $(PREFIX)/include
MANDIR   = $(PREFIX)/share/man

VERSION  = 0.1.0

ifdef SAN
B ?= build-san
else
B ?= build
endif

CC      ?= cc
PKGS     = libevent jansson openssl
SERVER_PKGS = libevent_openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SERVER_LIBS := $(shell pkg-config --libs $(SERVER_PKGS) 2>/dev/null)
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

# sleigh/*.c (launchers, node lists) are library code: the Sleigh API uses them.
LIBNWS_SRC := $(wildcard libnws/*.c sleigh/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
TOOLS_SRC  := $(wildcard libnws/tools/*.c sleigh/tools/*.c)
WORKER_SRC := $(wildcard worker/*.c)
MODULE_SRC := $(wildcard tests/modules/*.c examples/modules/*.c bench/modules/*.c)
EXAMPLE_SRC:= $(wildcard examples/*.c)
BENCH_SRC  := $(wildcard bench/*.c)
TEST_SRC   := $(wildcard tests/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBNWS_A   = $(B)/lib/libnws.a
LIBNWS_SO  = $(B)/lib/libnws.so
SERVER_A   = $(B)/lib/libnwsserver.a
NWSSERVER  = $(B)/bin/nwsserver
TOOLS      = $(patsubst %.c,$(B)/bin/%,$(notdir $(TOOLS_SRC)))
WORKER     = $(if $(WORKER_SRC),$(B)/bin/nws-worker)
MODULES    = $(patsubst %.c,$(B)/modules/%.so,$(notdir $(MODULE_SRC)))
EXAMPLES   = $(patsubst examples/%.c,$(B)/examples/%,$(EXAMPLE_SRC))
BENCHES    = $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))
TESTBIN    = $(B)/tests/check_nws

.PHONY: all deps deps-test run check install uninstall clean bench
.DEFAULT_GOAL := all

all: deps
	@$(MAKE) --no-print-directory build

.PHONY: build
build: $(LIBNWS_A) $(LIBNWS_SO) $(NWSSERVER) $(TOOLS) $(WORKER) $(MODULES) $(EXAMPLES) \
       $(BENCHES) $(TESTBIN) $(B)/libnws.pc

deps:
	@sh .ci/deps

# The tests also need chromium, node and playwright-core (browser tests).
deps-test:
	@sh .ci/deps test

# Tests reach into the server's private header for its unit tests.
$(B)/obj/tests/%.o: CFLAGS += -Iserver

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
	$(CC) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) $(SERVER_LIBS) -lm

$(B)/bin/%: $(B)/obj/libnws/tools/%.o $(LIBNWS_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(PKG_LIBS)

$(B)/bin/%: $(B)/obj/sleigh/tools/%.o $(LIBNWS_A)
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

$(TESTBIN): $(call obj,$(TEST_SRC)) $(SERVER_A) $(LIBNWS_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(CHECK_LIBS) $(PKG_LIBS) $(SERVER_LIBS) -lm

$(B)/libnws.pc: Makefile
	@mkdir -p $(dir $@)
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: libnws\nDescription: NetWorkSpaces client library\nVersion: %s\nRequires.private: libevent jansson openssl\nCflags: -I$${includedir}\nLibs: -L$${libdir} -lnws\n' '$(PREFIX)' '$(VERSION)' > $@

run: all
	$(NWSSERVER) --port $${NWS_SERVER_PORT:-8765} --web-port $${NWS_WEB_PORT:-8766}

# The test runner finds the built programs through NWS_BIN_DIR.
check: deps-test all
	NWS_BIN_DIR=$(abspath $(B)/bin) NWS_EXAMPLES_DIR=$(abspath $(B)/examples) \
	NWS_MODULES_DIR=$(abspath $(B)/modules) NWS_SRC_DIR=$(CURDIR) $(if $(SAN),CK_TIMEOUT_MULTIPLIER=4 ASAN_OPTIONS=detect_leaks=1) \
	$(TESTBIN)

bench: all
	NWS_BIN_DIR=$(abspath $(B)/bin) sh bench/run.sh $(abspath $(B))

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(NWSSERVER) $(TOOLS) $(WORKER) $(DESTDIR)$(BINDIR)/
	install -m 644 $(LIBNWS_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIBNWS_SO) $(DESTDIR)$(LIBDIR)/libnws.so.0
	ln -sf libnws.so.0 $(DESTDIR)$(LIBDIR)/libnws.so
	install -m 644 include/*.h $(DESTDIR)$(INCDIR)/
	install -m 644 $(B)/libnws.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	for m in man/*.[0-9]; do s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done

clean:
	rm -rf build build-san

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
