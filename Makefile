# SPDX-License-Identifier: GPL-2.0-or-later
# pcm-agent - see README.md.
#
#   make            build build/pcm-agent, the libraries and the SPANK plugin
#   make check      install missing Debian packages, build, run every test
#   make check-slurm  build, run the Slurm-facing tests only (SLURM_PREFIX=...)
#   make asan       the whole test suite under ASan+UBSan (build-asan/)
#   make demo       the whole story on a local test bed
#   make bench      benchmarks against cp / rsync (BENCH_SIZE=small|large)
#   make fuzz       libFuzzer targets (clang), a short run each
#   make install    PREFIX, DESTDIR, sysconfdir, SLURM_PREFIX, SLURM_PLUGINDIR
#   make deb / rpm  packages
#   make clean

BUILD     ?= build
CC        ?= cc
CFLAGS    ?= -O2 -g
WERROR    ?= -Werror
PREFIX    ?= /usr/local
sbindir   ?= $(PREFIX)/sbin
sysconfdir ?= /etc
mandir    ?= $(PREFIX)/share/man
datadir   ?= $(PREFIX)/share
unitdir   ?= /lib/systemd/system
libexecdir ?= $(PREFIX)/libexec
localstatedir ?= /var
# Slurm: Debian's slurm-wlm by default; ParallelCluster: SLURM_PREFIX=/opt/slurm;
# a test Slurm: SLURM_PREFIX=/opt/slurm-24.11.5 (packaging/build-slurm).  The
# agent and the plugin only work with the Slurm release they are built against.
SLURM_PREFIX    ?= /usr
ifneq ($(SLURM_PREFIX),/usr)
SLURM_PLUGINDIR ?= $(SLURM_PREFIX)/lib/slurm
SLURM_LIBDIR ?= $(SLURM_PREFIX)/lib
SLURM_CFLAGS ?= -I$(SLURM_PREFIX)/include
SLURM_LIBS   ?= -L$(SLURM_LIBDIR) -Wl,-rpath,$(SLURM_LIBDIR) -lslurm
else
SLURM_PLUGINDIR ?= /usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)/slurm-wlm
SLURM_LIBDIR ?= /usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)
SLURM_CFLAGS ?=
SLURM_LIBS   ?= -lslurm
endif
# libslurm's soname number, checked against the library loaded at run time
ifeq ($(origin SLURM_API_MAJOR),undefined)
SLURM_API_MAJOR := $(shell readelf -d $(SLURM_LIBDIR)/libslurm.so 2>/dev/null | \
	sed -n 's/.*(SONAME).*libslurm\.so\.\([0-9]*\).*/\1/p')
endif
# the prefix built against, for tests/run-all; a change rebuilds everything
SLURM_STAMP = $(BUILD)/slurm-prefix
$(shell mkdir -p $(BUILD) && [ "$$(cat $(SLURM_STAMP) 2>/dev/null)" = "$(SLURM_PREFIX)" ] || \
	echo "$(SLURM_PREFIX)" >$(SLURM_STAMP))

# libcurl and libxml2: headers only, the agent loads them when it first
# talks to AWS (agent/aws/dl.c); their sonames can be set here
PKGS       = json-c mount libxxhash libacl
DL_PKGS    = libcurl libxml-2.0
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) $(DL_PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
LIBCURL_SONAME ?= libcurl.so.4
LIBXML2_SONAME ?= libxml2.so.2

ifeq ($(SAN),1)
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

ALL_CFLAGS = -std=gnu11 -Wall -Wextra $(WERROR) -Wshadow -Wformat=2 -Wno-format-nonliteral \
	-Wno-missing-field-initializers -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-DPCM_LIBCURL='"$(LIBCURL_SONAME)"' -DPCM_LIBXML2='"$(LIBXML2_SONAME)"' \
	$(if $(SLURM_API_MAJOR),-DPCM_SLURM_API_MAJOR=$(SLURM_API_MAJOR)) \
	-Iagent -Istorage $(SLURM_CFLAGS) $(PKG_CFLAGS) $(SANFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS = $(SLURM_LIBS) $(PKG_LIBS) -lrsync -lpthread -ldl

AGENT_SRCS   = $(filter-out agent/main.c,$(wildcard agent/*.c agent/sched/*.c agent/aws/*.c agent/plan/*.c))
STORAGE_SRCS = $(wildcard storage/*.c)
UNIT_SRCS    = $(wildcard tests/unit/test_*.c)
UNIT_BINS    = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
AGENT_LIB    = $(BUILD)/libpcmagent.a
STORAGE_LIB  = $(BUILD)/libpcmstorage.a
PCM          = $(BUILD)/pcm-agent
SPANK        = $(BUILD)/spank_pcm.so

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

.PHONY: all check check-run check-slurm unit integration asan demo bench fuzz install deps clean deb rpm
SPANK_TARGET = $(if $(wildcard slurm-plugin/spank_pcm.c),$(SPANK))
# tests/fakes/latencyfs (FUSE, for the network-target bench and its test):
# built when libfuse3 is installed (packaging/install-deps installs it)
LATENCYFS = $(if $(shell pkg-config --exists fuse3 && echo y),$(BUILD)/tests/fakes/latencyfs)
all: $(PCM) $(SPANK_TARGET) $(UNIT_BINS) $(LATENCYFS)

$(BUILD)/%.o: %.c $(SLURM_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(AGENT_LIB): $(call obj,$(AGENT_SRCS))
	@rm -f $@
	$(AR) rcs $@ $^

$(STORAGE_LIB): $(call obj,$(STORAGE_SRCS))
	@rm -f $@
	$(AR) rcs $@ $^

$(PCM): $(call obj,agent/main.c) $(AGENT_LIB) $(STORAGE_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# The SPANK plugin is loaded into sbatch/srun/slurmstepd: it links nothing of ours
# but its own file, and never the sanitizer runtime.
$(SPANK): slurm-plugin/spank_pcm.c $(wildcard slurm-plugin/*.h) $(SLURM_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra $(WERROR) -D_GNU_SOURCE $(SLURM_CFLAGS) $(CFLAGS) \
		$(LDFLAGS) -shared -fPIC -o $@ slurm-plugin/spank_pcm.c $(shell pkg-config --cflags --libs json-c)

$(BUILD)/tests/unit/%: tests/unit/%.c tests/unit/cu.h $(AGENT_LIB) $(STORAGE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -Itests/unit -o $@ $< $(AGENT_LIB) $(STORAGE_LIB) \
		$(LIBS) -lcunit

$(BUILD)/tests/fakes/latencyfs: tests/fakes/latencyfs.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra $(WERROR) -D_GNU_SOURCE $(shell pkg-config --cflags fuse3) \
		$(CFLAGS) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs fuse3) -lpthread

deps:
	@packaging/install-deps

# `check` works on a fresh Debian 12 as root: packages first, then a new make
# (pkg-config answers only once the -dev packages are in).
check: deps
	@$(MAKE) --no-print-directory check-run

check-run: all
	@tests/run-all $(BUILD)

# the Slurm-facing unit and integration tests (tests/run-all ... slurm), with
# the daemons and commands of SLURM_PREFIX
check-slurm: deps
	@$(MAKE) --no-print-directory all
	@tests/run-all $(BUILD) slurm

unit: all
	@tests/run-all $(BUILD) unit

integration: all
	@tests/run-all $(BUILD) integration

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 CFLAGS="-O1 -g" check-run

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/run $(BUILD)

# libFuzzer targets: tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput.
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TIME ?= 20
# The libraries get coverage instrumentation (fuzzer-no-link): without it the
# fuzzers run blind into parsers that live in libpcmagent.a.
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang SAN=1 \
		CFLAGS="-O1 -g -fsanitize=fuzzer-no-link" \
		build-fuzz/libpcmagent.a build-fuzz/libpcmstorage.a
	@set -e; for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
		echo "fuzz: $$n ($(FUZZ_TIME) s)"; \
		clang -std=gnu11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
			-Iagent -Istorage $(PKG_CFLAGS) -o build-fuzz/$$n $$f \
			build-fuzz/libpcmagent.a build-fuzz/libpcmstorage.a $(LIBS); \
		mkdir -p build-fuzz/corpus-$$n; \
		build-fuzz/$$n -max_total_time=$(FUZZ_TIME) build-fuzz/corpus-$$n \
			$$( [ -d tests/fuzz/seeds/$$n ] && echo tests/fuzz/seeds/$$n ) 2>&1 | tail -n 3; \
	done

# Units and hook wrappers name $(sbindir)/pcm-agent; the plugstack line names
# $(SLURM_PLUGINDIR); an existing config is kept.  The config is 0640: it may
# hold webhook credentials (webhook_header, a webhook_url with a token).
install: $(PCM) $(SPANK_TARGET)
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(sysconfdir)/pcm-agent \
		$(DESTDIR)$(mandir)/man5 $(DESTDIR)$(mandir)/man8 $(DESTDIR)$(datadir)/pcm-agent \
		$(DESTDIR)$(unitdir) $(DESTDIR)$(libexecdir)/pcm-agent
	install -m 0755 $(PCM) $(DESTDIR)$(sbindir)/pcm-agent
	$(if $(SPANK_TARGET),install -d $(DESTDIR)$(SLURM_PLUGINDIR) && \
		install -m 0755 $(SPANK) $(DESTDIR)$(SLURM_PLUGINDIR)/spank_pcm.so)
	[ -e $(DESTDIR)$(sysconfdir)/pcm-agent/pcm-agent.conf ] || \
		install -m 0640 packaging/pcm-agent.conf $(DESTDIR)$(sysconfdir)/pcm-agent/pcm-agent.conf
	install -m 0644 man/pcm-agent.8 man/spank_pcm.8 $(DESTDIR)$(mandir)/man8/
	install -m 0644 man/pcm-agent.conf.5 $(DESTDIR)$(mandir)/man5/
	for f in packaging/systemd/*.service packaging/hooks/*-slurmctld; do \
		case $$f in *.service) d=$(unitdir) m=0644 ;; *) d=$(libexecdir)/pcm-agent m=0755 ;; esac; \
		sed 's|/usr/sbin/pcm-agent|$(sbindir)/pcm-agent|g' $$f >$(DESTDIR)$$d/$${f##*/} && \
		chmod $$m $(DESTDIR)$$d/$${f##*/} || exit 1; done
	install -m 0644 packaging/iam/pcm-agent-policy.json $(DESTDIR)$(datadir)/pcm-agent/
	sed '/^ *#/!s|[^ ]*/spank_pcm\.so|$(SLURM_PLUGINDIR)/spank_pcm.so|' packaging/plugstack.conf.d/pcm.conf \
		>$(DESTDIR)$(datadir)/pcm-agent/plugstack-pcm.conf
	install -d -m 0700 $(DESTDIR)$(localstatedir)/lib/pcm-agent

# packages in $(BUILD)/pkg (packaging/mkpkg; README in packaging/)
deb rpm:
	packaging/mkpkg $@ $(BUILD)/pkg

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -type f -name '*.d' 2>/dev/null)
