# Gantry: bin/gantry (every role) and bin/gantry-launcher (the agent's supervisor launcher),
# their unit tests and end-to-end tests.
#   make              build bin/gantry and bin/gantry-launcher
#   make test         install missing Debian packages, build, run every test (TAP via prove)
#   make SANITIZE=1 test   the same under ASan+UBSan (objects kept apart in build/san)
#   make bench        run the benchmarks and print their figures (never part of CI)
#   make fuzz         build the libFuzzer targets with clang into build/fuzz (never part of CI)

CC      ?= cc
MODE    := $(if $(SANITIZE),san,rel)
OUT     := build/$(MODE)
PKGS    := sqlite3 libmicrohttpd jansson yaml-0.1 libcurl gnutls libcrypto libpq

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Isrc -MMD -MP
ifdef SANITIZE
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
# A sanitizer's report exits 86, a status no command gives, so a test that checks an exit status
# fails on it (ASan's default, 1, is what most commands return for an error).
export ASAN_OPTIONS ?= exitcode=86
export UBSAN_OPTIONS ?= exitcode=86
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS  += $(PKG_LIBS) -ldl -lm -lpthread
# bind every symbol at start: a forked supervisor then resolves nothing lazily (no symbol
# lookups, no copy-on-write of the GOT in each child)
LDFLAGS += -Wl,-z,now -Wl,-z,relro

LIB_SRCS  := $(sort $(wildcard src/common/*.c src/sched/*.c src/model/*.c src/sim/*.c \
                                src/server/*.c src/agent/*.c src/cli/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(OUT)/%.o) $(OUT)/gen/web_assets.o
# The dashboard (docs/dashboard.md): web/ and the charting library scripts/deps installs from
# npm (web/package-lock.json) into build/web-deps, embedded into the binary as a C file.
WEB_DEPS  := build/web-deps
UPLOT     := $(WEB_DEPS)/node_modules/uplot/dist
WEB_FILES := $(sort $(wildcard web/*.html web/*.js web/*.css web/*.svg))
WEB_EMBED := /=web/index.html $(foreach f,$(filter-out web/index.html,$(WEB_FILES)),/ui/$(notdir $(f))=$(f)) \
             /ui/uPlot.min.js=$(UPLOT)/uPlot.iife.min.js /ui/uPlot.min.css=$(UPLOT)/uPlot.min.css
TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(OUT)/tests/%)
TEST_LIBS := $(OUT)/tests/libfake_nvml.so
GANTRY    := $(OUT)/gantry
LAUNCHER  := $(OUT)/gantry-launcher
HOLD      := $(OUT)/gantry-session-hold

.PHONY: all test unit e2e bench deps clean format fuzz
# bin/gantry is the release build; a SANITIZE build stays in build/san
all: $(GANTRY) $(LAUNCHER) $(HOLD) $(if $(SANITIZE),,bin/gantry bin/gantry-launcher bin/gantry-session-hold)

# copy then rename: a running bin/gantry (gantry up, a server) does not block the build
bin/%: build/rel/%
	@mkdir -p bin
	cp $< $@.tmp && mv -f $@.tmp $@

# every object waits for the Debian packages (scripts/deps: a quick check when all are there)
$(OUT)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(WEB_DEPS)/.installed: web/package-lock.json | deps
	@scripts/deps
	@touch $@

build/gen/web_assets.c: scripts/embed-web $(WEB_FILES) $(WEB_DEPS)/.installed
	@mkdir -p $(dir $@)
	scripts/embed-web $@ $(WEB_EMBED)

$(OUT)/gen/web_assets.o: build/gen/web_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/libgantry.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(GANTRY): $(OUT)/src/main.o $(OUT)/libgantry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The agent's supervisor launcher (src/agent/launcher.h): libc, jansson and libyaml (a
# container's GPU edits read CDI specs in YAML: src/agent/gpu_edits.c) only, so that the fork
# of each supervisor copies a small image; it sits beside gantry, where the agent looks.
$(LAUNCHER): $(OUT)/src/launcher_main.o $(OUT)/libgantry.a
	$(CC) $(LDFLAGS) -Wl,--as-needed -o $@ $^ -ljansson -lyaml

# An interactive job's placeholder inside its container (src/agent/session_hold.h): static, so
# that it runs in any image; never sanitized (a static program cannot take the sanitizers).
$(HOLD): src/session_hold_main.c src/agent/session_hold.c src/agent/session_hold.h | deps
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Isrc -o $@ \
	  src/session_hold_main.c src/agent/session_hold.c

$(OUT)/tests/%: $(OUT)/tests/unit/%.o $(OUT)/libgantry.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A stand-in NVML for test_gpu (never sanitized: it is dlopen'ed like the real one).
$(OUT)/tests/libfake_nvml.so: tests/unit/fake_nvml.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O2 -Wall -Wextra -Werror -o $@ $<

deps:
	@scripts/deps

# Every test speaks TAP; prove reads the summary. E2E scripts find the binary in GANTRY_BIN.
# tests/pg/with starts a throwaway PostgreSQL for the run (GANTRY_TEST_PG): the store's unit
# tests and the 14-*-pg*.t files use it, and every end-to-end file that starts a server on the
# test's store runs a second time with it on PostgreSQL (PG_E2E; GANTRY_TEST_STORE=pg; wrappers
# in $(OUT)/pg-e2e). PG_SAME: the files whose second run would be the first again: no server
# (the simulator, a fake server), a store of their own (always PostgreSQL, or SQLite's HA, or
# `gantry up`'s), or SQLite's files only (they skip on PostgreSQL). `make test STORE=pg` runs
# every end-to-end file with its server on PostgreSQL instead (docs/store.md, "Tests").
E2E_FILES := $(sort $(wildcard tests/e2e/*.t))
PG_SAME   := 10-sim.t 10-sim-inflate.t 10-sim-report.t 14-failover-epoch.t 14-failover.t \
             14-failover-patroni.t 14-failover-pg.t 14-failover-pg-cut.t 14-store-pg.t \
             14-store-pg-commit.t 14-store-pg-unknown.t 50-up-demo.t 66-store-full.t \
             98-services-durable.t
PG_E2E    := $(filter-out $(PG_SAME),$(notdir $(E2E_FILES)))
PG_WRAPS  := $(PG_E2E:%=$(OUT)/pg-e2e/%)
ifeq ($(STORE),pg)
TEST_ENV  := GANTRY_TEST_STORE=pg
PG_WRAPS  :=
endif

$(OUT)/pg-e2e/%.t: tests/e2e/%.t
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\n# %s with its server on PostgreSQL\nGANTRY_TEST_STORE=pg exec "%s"\n' \
	  $< $(CURDIR)/$< > $@ && chmod +x $@

# A failing run ends with tests/failure-report: each failed e2e test, what it got and its
# servers' last log lines (GANTRY_TEST_FAILLOG), after prove's summary.
FAILLOG   := $(OUT)/test-failures.log
test: deps
	$(MAKE) all $(TEST_BINS) $(TEST_LIBS) $(PG_WRAPS)
	@rm -f $(FAILLOG)
	$(TEST_ENV) GANTRY_TEST_FAILLOG=$(CURDIR)/$(FAILLOG) GANTRY_BIN=$(CURDIR)/$(GANTRY) GANTRY_ROOT=$(CURDIR) \
	  tests/pg/with prove -e '' $(TEST_BINS) $(E2E_FILES) $(PG_WRAPS) || { tests/failure-report $(FAILLOG); exit 1; }

unit: all $(TEST_BINS) $(TEST_LIBS)
	GANTRY_ROOT=$(CURDIR) tests/pg/with prove -e '' $(TEST_BINS)

e2e: all $(PG_WRAPS)
	@rm -f $(FAILLOG)
	$(TEST_ENV) GANTRY_TEST_FAILLOG=$(CURDIR)/$(FAILLOG) GANTRY_BIN=$(CURDIR)/$(GANTRY) GANTRY_ROOT=$(CURDIR) \
	  tests/pg/with prove -e '' $(E2E_FILES) $(PG_WRAPS) || { tests/failure-report $(FAILLOG); exit 1; }

bench: all $(OUT)/bench/agent-swarm
	bench/run

# bench/scale's simulated nodes (docs/performance.md, "2,000 nodes"): a benchmark client, not
# part of bin/gantry.
$(OUT)/bench/agent-swarm: bench/agent-swarm.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -ljansson -lcurl -lm

# Parsers under libFuzzer (clang; `scripts/deps fuzz` installs it). Run, for example:
#   build/fuzz/fuzz_config -max_total_time=60 tests/fuzz/corpus/config
FUZZ_CC    ?= clang
FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=undefined
FUZZ_SRCS  := src/common/util.c src/common/config.c $(wildcard src/sched/*.c src/model/*.c) \
              $(wildcard src/sim/trace*.c)
fuzz: build/fuzz/fuzz_config build/fuzz/fuzz_trace build/fuzz/fuzz_job build/fuzz/fuzz_agent \
      build/fuzz/fuzz_manifest

build/fuzz/%: tests/fuzz/%.c $(FUZZ_SRCS) $(wildcard src/*/*.h)
	@scripts/deps fuzz
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_SRCS) $(shell pkg-config --cflags --libs yaml-0.1) -lm

build/fuzz/fuzz_job: tests/fuzz/fuzz_job.c src/server/job.c src/common/util.c $(wildcard src/*/*.h)
	@scripts/deps fuzz
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< src/server/job.c src/common/util.c -ljansson -lm

# An artifact manifest a client sends (common/manifest.c, with libcrypto's SHA-256).
build/fuzz/fuzz_manifest: tests/fuzz/fuzz_manifest.c src/common/manifest.c src/common/digest.c \
                          src/common/digest_text.c src/common/util.c $(wildcard src/*/*.h)
	@scripts/deps fuzz
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< src/common/manifest.c src/common/digest.c \
	  src/common/digest_text.c src/common/util.c -ljansson -lcrypto -lpthread -lm

# The agent protocol against a whole server (every library source, linked with its packages).
build/fuzz/fuzz_agent: tests/fuzz/fuzz_agent.c $(LIB_SRCS) $(wildcard src/*/*.h)
	@scripts/deps fuzz
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB_SRCS) $(PKG_LIBS) -ldl -lm -lpthread

format:
	clang-format -i $(LIB_SRCS) src/main.c $(wildcard src/*/*.h) $(TEST_SRCS)

clean:
	rm -rf build bin

-include $(LIB_OBJS:.o=.d) $(OUT)/src/main.d $(OUT)/src/launcher_main.d $(TEST_SRCS:tests/unit/%.c=$(OUT)/tests/unit/%.d)
