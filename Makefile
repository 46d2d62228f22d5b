# mephisto-c: one non-recursive GNU makefile.
#
#   make                      build every program into $(O)/bin
#   make check                build and run the test suite (bats)
#   make check SANITIZE=address,undefined
#   make install PREFIX=/usr/local DESTDIR=
#   make deps                 install the Debian packages the build needs
#   make bench                build the load generator and run bench/run.sh
#   make fuzz FUZZ_SECONDS=N  run each libFuzzer harness in fuzz/ for N s
#   make torture TRIALS=N [SEED=S]  crash torture of whole runs
#   DEVELOPER=1               turn warnings into errors

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(BINDIR)
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
DESTDIR ?=

VERSION = 0.1.0

PKG_CONFIG ?= pkg-config
DEPS = sqlite3 libcjson yaml-0.1 libcurl
WEB_DEPS = libwebsockets

CC ?= cc
CFLAGS ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow \
	-Wno-unused-parameter -MMD -MP -Ilib \
	-DMEPHISTO_VERSION='"$(VERSION)"' \
	-DMEPHISTO_DATADIR='"$(DATADIR)/mephisto"' \
	-DMEPHISTO_LIBEXECDIR='"$(LIBEXECDIR)"' \
	$(shell $(PKG_CONFIG) --cflags $(DEPS) 2>/dev/null)
LDLIBS_BASE := $(shell $(PKG_CONFIG) --libs $(DEPS) 2>/dev/null) -lpthread -lm
LDLIBS_WEB := $(shell $(PKG_CONFIG) --libs $(WEB_DEPS) 2>/dev/null) -lev

ifdef DEVELOPER
override CFLAGS += -Werror
endif

# Each configuration builds into its own folder so that switching between
# a plain and a sanitizer build never mixes objects.
ifdef SANITIZE
O ?= build/san
override CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
override LDFLAGS += -fsanitize=$(SANITIZE)
else
O ?= build/default
endif

LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o) $(O)/gen/schema.o
LIB := $(O)/libmephisto.a

# A program is cmd/NAME.c or, once it grows, cmd/NAME/*.c.
PROG_FILES := $(wildcard cmd/*.c)
PROG_DIRS := $(patsubst %/,%,$(wildcard cmd/*/))
PROGRAMS := $(sort $(patsubst cmd/%.c,%,$(PROG_FILES)) $(patsubst cmd/%,%,$(PROG_DIRS)))
BINS := $(PROGRAMS:%=$(O)/bin/%)

# Small C programs that the bats tests drive.
TEST_SRC := $(wildcard tests/c/*.c)
TEST_BINS := $(TEST_SRC:tests/c/%.c=$(O)/tests/%)

# Programs that serve HTTP/WebSocket link libwebsockets.
WEB_PROGRAMS := mephisto-io

all: $(BINS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The schema is compiled in, so a program never depends on finding
# share/ at run time to open a database.
$(O)/gen/schema.c: share/mephisto/schema.sql
	@mkdir -p $(dir $@)
	{ echo '#include "db.h"'; echo 'const char db_schema_sql[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@.tmp && mv $@.tmp $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

define program_rule
$(O)/bin/$(1): $$(patsubst %.c,$(O)/%.o,$$(wildcard cmd/$(1).c cmd/$(1)/*.c)) $(LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS_BASE) $(if $(filter $(1),$(WEB_PROGRAMS)),$$(LDLIBS_WEB))
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_rule,$(p))))

$(O)/tests/%: $(O)/tests/c/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_BASE) $(LDLIBS_WEB)

# Fuzz harnesses (fuzz/*.c, see fuzz/fuzz.h).  In every build each is
# linked with fuzz/replay.c as $(O)/fuzz/NAME-replay, which "make check"
# runs on the seed corpus and on the inputs of fixed crashes
# (tests/fuzz/NAME/).  "make fuzz" builds them again with clang and
# libFuzzer into $(FUZZ_O)/fuzz/NAME and runs each for FUZZ_SECONDS.
FUZZ_SUPPORT := fuzz/replay.c fuzz/file.c
FUZZ_NAMES := $(patsubst fuzz/%.c,%,$(filter-out $(FUZZ_SUPPORT),$(wildcard fuzz/*.c)))
FUZZ_IO_OBJ := $(patsubst %.c,$(O)/%.o,cmd/mephisto-io/multipart.c \
	cmd/mephisto-io/form.c cmd/mephisto-io/upload.c) $(O)/fuzz/file.o
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(O)/fuzz/%-replay)
FUZZ_SECONDS ?= 60
FUZZ_O ?= build/fuzz

$(O)/fuzz/%.o: override CFLAGS += -Icmd/mephisto-io \
	$(shell $(PKG_CONFIG) --cflags $(WEB_DEPS) 2>/dev/null)

$(O)/fuzz/%-replay: $(O)/fuzz/%.o $(O)/fuzz/replay.o $(FUZZ_IO_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_BASE)

$(O)/fuzz/%: $(O)/fuzz/%.o $(FUZZ_IO_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS_BASE)

fuzz-bins: $(FUZZ_NAMES:%=$(O)/fuzz/%)

.SECONDARY: $(FUZZ_NAMES:%=$(O)/fuzz/%.o) $(O)/fuzz/replay.o $(O)/fuzz/file.o

fuzz:
	$(MAKE) O=$(FUZZ_O) CC=clang SANITIZE=fuzzer-no-link,address,undefined \
		CFLAGS='-O1 -g' fuzz-bins
	@set -e; for t in $(FUZZ_NAMES); do \
		mkdir -p $(FUZZ_O)/corpus/$$t $(FUZZ_O)/crash; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(FUZZ_O)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) \
			-timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_O)/crash/$$t- \
			$(FUZZ_O)/corpus/$$t fuzz/corpus/$$t \
			2>$(FUZZ_O)/$$t.log || { tail -40 $(FUZZ_O)/$$t.log; exit 1; }; \
		grep -E '^stat::number_of_executed_units|^#[0-9]+ *DONE' \
			$(FUZZ_O)/$$t.log | sed "s/^/fuzz: $$t: /"; \
	done

tests: $(TEST_BINS) $(FUZZ_REPLAY)

# Crash torture (tests/torture.sh): TRIALS whole runs with seeded random
# SIGKILLs of pool, io and the supervisor; SEED replays a failing trial,
# KILLS and UNITS set the kills and units of each trial.
TRIALS ?= 10
torture: all
	tests/torture.sh -n $(TRIALS) $(if $(SEED),-s $(SEED)) $(if $(KILLS),-k $(KILLS)) \
		$(if $(UNITS),-u $(UNITS)) -b $(CURDIR)/$(O)

# The load generator (bench/*.c) and the benchmark driver.  Figures are
# printed, never checked: a benchmark is not a test.
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRC:bench/%.c=$(O)/bench/%)

$(O)/bench/%: $(O)/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_BASE)

.PRECIOUS: $(O)/bench/%.o

bench-build: all $(BENCH_BINS)

bench: bench-build
	MEPHISTO_BUILD=$(CURDIR)/$(O) bench/run.sh

# The test suite runs against this build folder, BATS_JOBS files at a time
# when GNU parallel is installed (BATS_JOBS=1: one at a time).  A file's
# tests run in order: a job for each test costs more CPU than it saves.
BATS ?= bats
BATS_FLAGS ?=
BATS_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
BATS_PARALLEL = $(if $(filter-out 0 1,$(BATS_JOBS)),$(if $(shell command -v parallel),--jobs $(BATS_JOBS) --no-parallelize-within-files))
TESTS ?= tests
check: all tests
	MEPHISTO_BUILD=$(CURDIR)/$(O) VALGRIND=$(VALGRIND) $(BATS) $(BATS_PARALLEL) $(BATS_FLAGS) $(TESTS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/mephisto \
		$(DESTDIR)$(MANDIR)/man1
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)/
	cp -R share/mephisto/. $(DESTDIR)$(DATADIR)/mephisto/
	for f in share/man/man1/*.1; do \
		[ -e "$$f" ] && install -m 644 "$$f" $(DESTDIR)$(MANDIR)/man1/; \
	done; true
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) \
		$(DESTDIR)$(FISHCOMPDIR)
	install -m 644 completions/mephisto.bash $(DESTDIR)$(BASHCOMPDIR)/mephisto
	install -m 644 completions/_mephisto $(DESTDIR)$(ZSHCOMPDIR)/_mephisto
	install -m 644 completions/mephisto.fish $(DESTDIR)$(FISHCOMPDIR)/mephisto.fish
	# bash-completion and fish load a completion by the command's name.
	for p in $(filter-out mephisto,$(PROGRAMS)); do \
		ln -sf mephisto $(DESTDIR)$(BASHCOMPDIR)/$$p && \
		ln -sf mephisto.fish $(DESTDIR)$(FISHCOMPDIR)/$$p.fish || exit 1; \
	done

uninstall:
	rm -f $(PROGRAMS:%=$(DESTDIR)$(BINDIR)/%)
	rm -rf $(DESTDIR)$(DATADIR)/mephisto
	rm -f $(PROGRAMS:%=$(DESTDIR)$(MANDIR)/man1/%.1)
	rm -f $(PROGRAMS:%=$(DESTDIR)$(BASHCOMPDIR)/%) \
		$(PROGRAMS:%=$(DESTDIR)$(FISHCOMPDIR)/%.fish) \
		$(DESTDIR)$(ZSHCOMPDIR)/_mephisto

# Debian packages needed to build and test; installed only when missing.
DEB_PACKAGES = build-essential pkg-config libsqlite3-dev libcjson-dev \
	libyaml-dev libwebsockets-dev libwebsockets-evlib-ev libev-dev \
	libcurl4-openssl-dev sqlite3 jq \
	bats bats-assert bats-support bats-file parallel tmux chromium \
	man-db groff-base python3 nginx-light openssl prometheus \
	clang libclang-rt-14-dev valgrind
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done; \
		command -v npm >/dev/null || echo nodejs npm); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@if [ -f tests/browser/package.json ] && [ ! -d tests/browser/node_modules ]; then \
		cd tests/browser && npm ci --no-audit --no-fund --loglevel=error; fi

clean:
	rm -rf build

.PHONY: all check tests bench bench-build install uninstall deps clean \
	fuzz fuzz-bins torture

-include $(shell find $(O) -name '*.d' 2>/dev/null)
