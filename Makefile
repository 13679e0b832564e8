# drover - transparent web-proxy clustering appliance
#
#   make              build droverd, droverctl and drover-decap into build/
#   make test         install missing Debian packages, build, run every test suite, then
#                     the unit tests, foundation e2e and corpus replays under ASan + UBSan
#   make unit         unit tests only (no root needed)
#   make e2e          end-to-end namespace tests only (root)
#   make crashloop    the 200-kill configuration crash loop alone (CRASH_ITERATIONS=N)
#   make demo         start the demo lab (root);  make demo-stop  removes it
#   make bench        packet-rate benchmark, drover against kernel forwarding (root;
#                     BENCH_ARGS="--quick" for a short run); results in build/bench/
#   make install      PREFIX=/usr/local DESTDIR=
#   make deb          Debian package in build/deb/ (packaging/debian)
#   make SANITIZE=1   ASan + UBSan build in build-san/
#   make fuzz         libFuzzer (clang, ASan + UBSan) harnesses in build-fuzz/, each run
#                     FUZZ_SECONDS (default 600), one after another, at nice 19
#   make fuzz-replay  the harnesses as plain programs that replay their seed corpora
#   make fuzz-coverage line coverage reached by the seeds plus what make fuzz found
#   make soak         SOAK_SECONDS (default 1800) of traffic, flapping proxies and
#                     config changes; RSS, descriptors and counters checked (root)
#   make V=1          show the commands

PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/drover
# Programs run by other programs (keepalived's notify hook). droverctl ha
# keepalived-config names /usr/lib/drover/drover-ha-notify, the package's
# path; with another PREFIX give it --notify.
LIBEXECDIR ?= $(PREFIX)/lib/drover
MANDIR  ?= $(PREFIX)/share/man
# /usr installs configuration in /etc, anything else under its own prefix.
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
# Where this system's systemd looks (Debian 12: /lib/systemd/system).
UNITDIR     ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system)
TMPFILESDIR ?= $(or $(shell pkg-config --variable=tmpfilesdir systemd 2>/dev/null),/usr/lib/tmpfiles.d)
DESTDIR ?=

CC         ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS     ?= -O2 -g
BUILD      ?= build
# Build-time tools (tools/) run on this host during the build: they take the
# compiler and flags as given, before the sanitizer, fuzzer and coverage
# switches below, which are meant for drover's own code.
HOST_CC      := $(CC)
HOST_CFLAGS  := $(CFLAGS)
HOST_LDFLAGS := $(LDFLAGS)

DAEMON_PKGS := libnetfilter_queue libmnl libevent libevent_pthreads libevent_openssl openssl \
	       libcurl sqlite3 jansson libsodium libsystemd libbpf
TEST_PKGS   := cmocka

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif

ifeq ($(SANITIZE),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BUILD     := build-san
endif
# The libFuzzer build: everything instrumented for coverage, harnesses linked with the fuzzer.
ifeq ($(FUZZ),1)
CC        := clang
SAN_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	     -fno-sanitize-recover=undefined
BUILD     := build-fuzz
endif
# Line coverage of the fuzz corpora (make fuzz-coverage): clang's source-based coverage.
ifeq ($(COVERAGE),1)
CC        := clang
SAN_FLAGS := -fprofile-instr-generate -fcoverage-mapping
BUILD     := build-cov
endif

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

override CFLAGS  += -std=gnu11 $(WARNINGS) -MMD -MP -D_GNU_SOURCE -pthread $(SAN_FLAGS) \
		    -DDROVER_VERSION='"$(VERSION)"' -Iappliance -Iwebui
override LDFLAGS += -pthread $(SAN_FLAGS)

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DAEMON_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(DAEMON_PKGS) 2>/dev/null)
TEST_LIBS  := $(shell $(PKG_CONFIG) --libs $(TEST_PKGS) 2>/dev/null)

ifeq ($(V),1)
Q :=
else
Q := @
endif

# appliance/: droverd, droverctl and the library they share; webui/: the web UI's
# server code, also in the library; proxy/: what runs on the proxies (drover-decap,
# drover-proxy-setup.sh); tools/: programs run on this host at build time.
MAINS     := appliance/droverd.c appliance/droverctl.c
WEBUI_SRCS := $(wildcard webui/*.c)
# tools/embed compiles webui/static/* into the web UI's asset table, and the proxy
# set-up script into the text appliance/setup_script.c renders (no xxd needed).
EMBED      := $(BUILD)/tools/embed
ASSETS     := $(sort $(wildcard webui/static/*))
SETUP_SCRIPT := proxy/drover-proxy-setup.sh
LIB_SRCS  := $(filter-out $(MAINS) %.bpf.c,$(wildcard appliance/*.c)) $(WEBUI_SRCS)
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/webui/assets.o \
	     $(BUILD)/appliance/setup_script_body.o
LIB       := $(BUILD)/libdrover.a
PROGRAMS  := $(BUILD)/droverd $(BUILD)/droverctl $(BUILD)/drover-decap
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BINS := $(BUILD)/bench/drover-bench-gen $(BUILD)/bench/drover-bench-sink \
	      $(BUILD)/bench/drover-bench-micro
BENCH_ARGS ?=
# Fuzz harnesses: tests/fuzz/fuzz_NAME.c, seeds in tests/fuzz/corpus/fuzz_NAME/.
FUZZ_NAMES   := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)
REPLAY_BINS  := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
FUZZ_SECONDS ?= 600
SOAK_SECONDS ?= 1800
# The API and control harnesses keep backup/restore paths inside their temporary
# directory (they run their manager without NFQUEUE through its queue_binder seam).
FUZZ_WRAP    := -Wl,--wrap=api_handle

.PHONY: all deps test test-bins unit e2e bench crashloop demo demo-stop install deb clean \
	format fuzz fuzz-build fuzz-replay fuzz-coverage soak

all: $(PROGRAMS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# The kernel fast path: a BPF object, compiled by clang and linked into droverd as a
# libbpf skeleton (bpftool gen skeleton), so there is no file to install or lose.
# The headers' multiarch directory is the host compiler's triple: clang's (the fuzz
# and coverage builds) names no directory under /usr/include.
BPF_CLANG ?= clang
$(BUILD)/fastpath.bpf.o: appliance/fastpath.bpf.c appliance/fastpath_abi.h appliance/wire.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BPF     $<")
	$(Q)$(BPF_CLANG) -O2 -g -Wall -target bpf -I/usr/include/$(shell $(HOST_CC) -dumpmachine) \
		-Iappliance -c -o $@ $<

$(BUILD)/fastpath.skel.h: $(BUILD)/fastpath.bpf.o
	@$(if $(Q),echo "  SKEL    $@")
	$(Q)bpftool gen skeleton $< name fastpath_bpf >$@.tmp && mv $@.tmp $@

$(BUILD)/appliance/fastpath.o: $(BUILD)/fastpath.skel.h
$(BUILD)/appliance/fastpath.o: override CFLAGS += -I$(BUILD)

$(EMBED): tools/embed.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $<")
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -std=gnu11 $(WARNINGS) -MMD -MP -o $@ $< $(HOST_LDFLAGS)

$(BUILD)/webui/assets.c: $(EMBED) $(ASSETS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  EMBED   $@")
	$(Q)$(EMBED) $@ $(ASSETS)

$(BUILD)/appliance/setup_script_body.c: $(EMBED) $(SETUP_SCRIPT)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  EMBED   $@")
	$(Q)$(EMBED) --text setup_script_body $@ $(SETUP_SCRIPT)

$(BUILD)/webui/assets.o $(BUILD)/appliance/setup_script_body.o: %.o: %.c
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/droverd $(BUILD)/droverctl: $(BUILD)/%: $(BUILD)/appliance/%.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/drover-decap: $(BUILD)/proxy/drover-decap.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MF $@.d -o $@ $< $(LIB) $(LDFLAGS) $(PKG_LIBS) $(TEST_LIBS) $(LDLIBS)

# Runs a manager without NFQUEUE: queue binding is replaced by the test's own.

# The replay build: each harness with a plain main() that runs every file given once.
$(BUILD)/fuzz/replay_%: tests/fuzz/%.c $(BUILD)/tests/fuzz/replay.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MF $@.d -o $@ $< $(BUILD)/tests/fuzz/replay.o $(LIB) \
		$(LDFLAGS) $(FUZZ_WRAP) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -fsanitize=fuzzer -MF $@.d -o $@ $< $(LIB) \
		$(LDFLAGS) -fsanitize=fuzzer $(FUZZ_WRAP) $(PKG_LIBS) $(LDLIBS)

.SECONDARY: $(BUILD)/tests/fuzz/replay.o

fuzz-replay: $(REPLAY_BINS)

fuzz-build: $(FUZZ_BINS)

fuzz:
	$(Q)$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	$(Q)tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-coverage:
	$(Q)$(MAKE) --no-print-directory COVERAGE=1 fuzz-replay
	$(Q)tests/fuzz/coverage.sh build-cov build-fuzz $(FUZZ_NAMES)

soak: all
	$(Q)SOAK_SECONDS=$(SOAK_SECONDS) DROVER_BUILD=$(CURDIR)/$(BUILD) tests/soak/soak.sh

# The bench's generator and sink stand alone; the micro-benchmarks link the library.
$(BUILD)/bench/drover-bench-%: tests/bench/%.c tests/bench/bench.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MF $@.d -o $@ $< $(LDFLAGS)

$(BUILD)/bench/drover-bench-micro: tests/bench/micro.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MF $@.d -o $@ $< $(LIB) $(LDFLAGS) $(PKG_LIBS) $(LDLIBS)

deps:
	$(Q)packaging/deps.sh

unit: $(TEST_BINS)
	$(Q)tests/run.sh --build $(BUILD) unit

e2e: $(PROGRAMS) $(BENCH_BINS)
	$(Q)tests/run.sh --build $(BUILD) e2e

bench: deps $(PROGRAMS) $(BENCH_BINS)
	$(Q)tests/bench/bench.sh --build $(BUILD) $(BENCH_ARGS)

crashloop: $(PROGRAMS)
	$(Q)CRASH_ITERATIONS=$(or $(CRASH_ITERATIONS),200) tests/run.sh --build $(BUILD) e2e config_crash

# make test also builds with ASan + UBSan (build-san/) and runs the unit
# tests, the foundation e2e and the corpus replays from there, in the same
# tally (TEST_SANITIZE=0 leaves that out).
TEST_SANITIZE ?= 1
ifeq ($(SANITIZE),1)
TEST_SANITIZE := 0
endif

test-bins: all $(TEST_BINS) $(REPLAY_BINS)

test: deps
	$(Q)$(MAKE) --no-print-directory test-bins $(BENCH_BINS)
ifeq ($(TEST_SANITIZE),1)
	$(Q)$(MAKE) --no-print-directory SANITIZE=1 test-bins
	$(Q)DROVER_SAN_BUILD=build-san tests/run.sh --build $(BUILD) all
else
	$(Q)tests/run.sh --build $(BUILD) all
endif

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/lab/demo.sh start $(BUILD)

demo-stop:
	$(Q)tests/lab/demo.sh stop $(BUILD)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/proxy \
		$(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(SYSCONFDIR)/default $(DESTDIR)$(SYSCONFDIR)/sysctl.d
	install -m 0755 $(BUILD)/droverd $(BUILD)/drover-decap $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BUILD)/droverctl $(DESTDIR)$(BINDIR)/
	install -m 0644 rules/99-drover.conf $(DESTDIR)$(SYSCONFDIR)/sysctl.d/
	install -m 0755 $(SETUP_SCRIPT) $(DESTDIR)$(DATADIR)/proxy/
	install -m 0755 packaging/drover-ha-notify $(DESTDIR)$(LIBEXECDIR)/
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		packaging/systemd/drover.service.in >$(DESTDIR)$(UNITDIR)/drover.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/drover.service
	install -m 0644 packaging/systemd/drover.tmpfiles $(DESTDIR)$(TMPFILESDIR)/drover.conf
	install -m 0644 packaging/drover.default $(DESTDIR)$(SYSCONFDIR)/default/drover

deb:
	$(Q)packaging/build-deb.sh

format:
	clang-format -i appliance/*.[ch] webui/*.[ch] proxy/*.c tools/*.c tests/unit/*.c \
		tests/fuzz/*.c

clean:
	rm -rf build build-san build-fuzz build-cov

-include $(LIB_OBJS:.o=.d) $(EMBED).d $(MAINS:%.c=$(BUILD)/%.d) $(BUILD)/proxy/drover-decap.d \
	$(TEST_BINS:=.d) \
	$(FUZZ_BINS:=.d) $(REPLAY_BINS:=.d) $(BENCH_BINS:=.d)
