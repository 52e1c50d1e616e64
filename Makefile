# SPDX-License-Identifier: GPL-2.0-or-later
# pcm-agent - see README.md.
#
#   make            build build/pcm-agent, the libraries and the SPANK plugin
#   make check      install missing Debian packages, build, run every test
#   make asan       the whole test suite under ASan+UBSan (build-asan/)
#   make demo       the whole story on a local test bed
#   make bench      benchmarks against cp / rsync (BENCH_SIZE=small|large)
#   make fuzz       libFuzzer targets (clang), a short run each
#   make install    PREFIX, DESTDIR, sysconfdir, SLURM_PLUGINDIR
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
# Slurm: Debian's slurm-wlm by default; ParallelCluster: SLURM_PREFIX=/opt/slurm
SLURM_PREFIX    ?= /usr
SLURM_PLUGINDIR ?= /usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)/slurm-wlm
ifneq ($(SLURM_PREFIX),/usr)
SLURM_CFLAGS ?= -I$(SLURM_PREFIX)/include
SLURM_LIBS   ?= -L$(SLURM_PREFIX)/lib -Wl,-rpath,$(SLURM_PREFIX)/lib -lslurm
else
SLURM_CFLAGS ?=
SLURM_LIBS   ?= -lslurm
endif

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

.PHONY: all check check-run unit integration asan demo bench fuzz install deps clean deb rpm
SPANK_TARGET = $(if $(wildcard slurm-plugin/spank_pcm.c),$(SPANK))
all: $(PCM) $(SPANK_TARGET) $(UNIT_BINS)

$(BUILD)/%.o: %.c
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
$(SPANK): slurm-plugin/spank_pcm.c $(wildcard slurm-plugin/*.h)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra $(WERROR) -D_GNU_SOURCE $(SLURM_CFLAGS) $(CFLAGS) \
		$(LDFLAGS) -shared -fPIC -o $@ slurm-plugin/spank_pcm.c $(shell pkg-config --cflags --libs json-c)

$(BUILD)/tests/unit/%: tests/unit/%.c tests/unit/cu.h $(AGENT_LIB) $(STORAGE_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -Itests/unit -o $@ $< $(AGENT_LIB) $(STORAGE_LIB) \
		$(LIBS) -lcunit

deps:
	@packaging/install-deps

# `check` works on a fresh Debian 12 as root: packages first, then a new make
# (pkg-config answers only once the -dev packages are in).
check: deps
	@$(MAKE) --no-print-directory check-run

check-run: all
	@tests/run-all $(BUILD)

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
