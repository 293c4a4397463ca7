# flintsched — see README.md.  Non-recursive; every object lands in build/.
#
#   make            libraries and binaries
#   make test       cmocka unit + integration tests (start their own etcd)
#   make e2e        end-to-end tests (real etcd, controllers, agents)
#   make check      test + e2e + fuzz and bench smoke runs
#   make SANITIZE=1 ...   ASan + UBSan build (into build/san)
#   make bench | demo | fuzz | lint | fmt | install | clean

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
VERSION  := 0.1.0

ifeq ($(SANITIZE),1)
B        := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := -O1 -g
else
B        := build
SANFLAGS :=
OPT      ?= -O2 -g
endif

PKGS     := libcurl jansson yaml-0.1 libprotobuf-c
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm
MHD_LIBS   := $(shell pkg-config --libs libmicrohttpd 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN     := -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror \
            -Wno-error=deprecated-declarations -Wno-format-truncation
CFLAGS   ?=
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) $(PKG_CFLAGS) \
            -I. -I$(B)/gen -DFLINTSCHED_VERSION=\"$(VERSION)\" -MMD -MP $(CFLAGS)
LDFLAGS  ?=
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS)

# Libraries: every .c of the folder is in the library.
ETCD_SRC   := $(wildcard etcdclient/*.c)
CFG_SRC    := $(wildcard config/*.c)
COMMON_SRC := $(wildcard common/*.c)
AGENT_SRC  := $(filter-out agent/main.c,$(wildcard agent/*.c))
CTRL_SRC   := $(filter-out controller/main.c,$(wildcard controller/*.c))
CTL_SRC    := $(wildcard ctl/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

# Flintlock's messages: C from proto/ by protoc-c into $(B)/gen/ (included
# as "types/microvm.pb-c.h" etc.), compiled into the agent library.
PROTO_SRC := $(shell find proto -name '*.proto' 2>/dev/null)
PROTO_C   := $(patsubst proto/%.proto,$(B)/gen/%.pb-c.c,$(PROTO_SRC))
PROTO_H   := $(PROTO_C:.c=.h)
PROTO_OBJ := $(PROTO_C:.c=.o)

LIBETCD   := $(B)/libetcdclient.a
LIBCFG    := $(B)/libfscfg.a
LIBCOMMON := $(B)/libfscommon.a
LIBAGENT  := $(B)/libfsagent.a
LIBCTRL   := $(B)/libfscontroller.a
LIBCTL    := $(B)/libfsctl.a
LIBS      := $(LIBCTL) $(LIBCTRL) $(LIBAGENT) $(LIBCOMMON) $(LIBCFG) $(LIBETCD)

BINS := $(if $(wildcard agent/main.c),$(B)/flintsched-agent) \
        $(if $(wildcard controller/main.c),$(B)/flintsched-controller) \
        $(if $(CTL_SRC),$(B)/flintschedctl)

# Tests: test/test_<name>.c -> $(B)/test/test_<name>; helpers in test/lib/.
TEST_SRC  := $(wildcard test/test_*.c)
TEST_LIB  := $(wildcard test/lib/*.c)
TEST_BINS := $(patsubst test/%.c,$(B)/test/%,$(TEST_SRC))
TEST_TOOLS := $(patsubst test/tools/%.c,$(B)/test/tools/%,$(wildcard test/tools/*.c))
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/*.c))

.PHONY: all deps test memcheck e2e check fuzz-smoke bench bench-smoke demo fuzz lint fmt install clean
all: $(LIBS) $(BINS) $(TEST_TOOLS)

$(B)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# One protoc-c run writes every .pb-c.[ch] (grouped target).
$(PROTO_C) $(PROTO_H) &: $(PROTO_SRC)
	@mkdir -p $(B)/gen
	protoc-c -Iproto --c_out=$(B)/gen $(PROTO_SRC)
$(B)/gen/%.pb-c.o: $(B)/gen/%.pb-c.c $(PROTO_H)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBETCD): $(call obj,$(ETCD_SRC))
$(LIBCFG): $(call obj,$(CFG_SRC))
$(LIBCOMMON): $(call obj,$(COMMON_SRC))
$(LIBAGENT): $(call obj,$(AGENT_SRC)) $(PROTO_OBJ)
$(LIBCTRL): $(call obj,$(CTRL_SRC))
$(LIBCTL): $(call obj,$(filter-out ctl/main.c,$(CTL_SRC)))
$(B)/lib%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/flintsched-agent: $(call obj,agent/main.c) $(LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(MHD_LIBS)
$(B)/flintsched-controller: $(call obj,controller/main.c) $(LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(MHD_LIBS)

# flintschedctl: its own objects, on the controller's parser and scores.
$(B)/flintschedctl: $(call obj,ctl/main.c) $(LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(MHD_LIBS)

$(B)/test/tools/%: $(call obj,test/tools/%.c) $(call obj,$(TEST_LIB)) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(MHD_LIBS) $(CMOCKA_LIBS)
$(B)/test/%: $(call obj,test/%.c) $(call obj,$(TEST_LIB)) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(MHD_LIBS) $(CMOCKA_LIBS) -lpthread

$(B)/bench/%: $(call obj,bench/%.c) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# T=name runs one test binary (make test T=test_codec).
test: all $(TEST_BINS)
	@B=$(B) ./test/run.sh $(if $(T),$(B)/test/$(T),$(TEST_BINS))

# Every test binary under valgrind: leaks and memory errors fail.
memcheck: all $(TEST_BINS)
	@VALGRIND="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
	  B=$(B) ./test/run.sh $(if $(T),$(B)/test/$(T),$(TEST_BINS))

e2e: all
	@B=$(B) ./e2e/run.sh

deps:
	@./scripts/install-deps.sh

# test + e2e + a short run of each fuzz target, then one summary line.
check:
	@rm -f $(B)/summary-*; mkdir -p $(B); \
	$(MAKE) --no-print-directory test SUMMARY_FILE=$(CURDIR)/$(B)/summary-test; t=$$?; \
	$(MAKE) --no-print-directory e2e SUMMARY_FILE=$(CURDIR)/$(B)/summary-e2e; e=$$?; \
	$(MAKE) --no-print-directory fuzz-smoke SUMMARY_FILE=$(CURDIR)/$(B)/summary-fuzz; f=$$?; \
	$(MAKE) --no-print-directory bench-smoke SUMMARY_FILE=$(CURDIR)/$(B)/summary-bench; b=$$?; \
	cat $(B)/summary-* 2>/dev/null | awk -v t=$$t -v e=$$e -v f=$$f -v b=$$b \
	  '{p+=$$1; x+=$$2} END {if (t||e||f||b) if (x==0) x=1; \
	   printf "check: %d passed, %d failed\n", p, x; exit (x>0)}'

FUZZ_SECONDS ?= 20
fuzz-smoke: fuzz
	@p=0; x=0; for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  rm -rf build/fuzz/corpus/$$n; mkdir -p build/fuzz/corpus/$$n; \
	  [ -d fuzz/corpus/$$n ] && cp fuzz/corpus/$$n/* build/fuzz/corpus/$$n/; \
	  if ./build/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -close_fd_mask=3 \
	      build/fuzz/corpus/$$n > build/fuzz/$$n.log 2>&1; then \
	    echo "fuzz $$n: $(FUZZ_SECONDS) s, $$(grep -Eo 'Done [0-9]+ runs' build/fuzz/$$n.log), no crash"; p=$$((p+1)); \
	  else echo "fuzz $$n: FAILED, see build/fuzz/$$n.log"; tail -30 build/fuzz/$$n.log; x=$$((x+1)); fi; \
	done; echo "$$p passed, $$x failed"; \
	[ -n "$(SUMMARY_FILE)" ] && echo "$$p $$x" > "$(SUMMARY_FILE)"; [ $$x -eq 0 ]

bench: all $(BENCH_BINS)
	@B=$(B) ./bench/run.sh

# make check's stage for the bench: the whole of it at tiny sizes (about a
# minute), and bench/check.py that every scenario ran and placed all it
# submitted; the figures themselves are not judged at these sizes.
bench-smoke: all $(BENCH_BINS)
	@if BENCH_SMOKE=1 B=$(B) ./bench/run.sh > $(B)/bench-smoke.log 2>&1 && \
	    python3 bench/check.py $(B)/bench.json; then \
	  echo "bench smoke: every scenario ran ($$(grep -Eo 'done in [0-9]+ s' $(B)/bench-smoke.log))"; p=1; x=0; \
	else echo "bench smoke: FAILED, see $(B)/bench-smoke.log"; tail -30 $(B)/bench-smoke.log; p=0; x=1; fi; \
	[ -n "$(SUMMARY_FILE)" ] && echo "$$p $$x" > "$(SUMMARY_FILE)"; [ $$x -eq 0 ]

# FLINTLOCK=1: agents on fake flintlockds over gRPC+mTLS, not simulate.
demo:
	@FLINTLOCK=$(FLINTLOCK) DEMO_EXECUTOR=$(DEMO_EXECUTOR) ./demo/demo.sh

# libFuzzer targets: fuzz/fuzz_<name>.c, built with clang.
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
fuzz: $(PROTO_C)
	@mkdir -p build/fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  echo "  FUZZ $$n"; \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -I$(B)/gen $(PKG_CFLAGS) -DFLINTSCHED_VERSION=\"fuzz\" \
	    -fsanitize=fuzzer,address,undefined $$f $(ETCD_SRC) $(CFG_SRC) $(COMMON_SRC) $(CTRL_SRC) \
	    agent/flintlock_pb.c $(PROTO_C) \
	    -o build/fuzz/$$n $(PKG_LIBS) $(MHD_LIBS) || exit 1; done

LINT_SRC := $(ETCD_SRC) $(CFG_SRC) $(COMMON_SRC) $(wildcard agent/*.c controller/*.c) $(CTL_SRC)
lint: $(PROTO_H)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem -I. -I$(B)/gen $(LINT_SRC)
	shellcheck -x -P SCRIPTDIR e2e/*.sh test/run.sh test/tools/*.sh scripts/*.sh deploy/*.sh demo/*.sh .ci/run
	clang-tidy --quiet $(LINT_SRC) -- -std=c11 -D_GNU_SOURCE -I. -I$(B)/gen $(PKG_CFLAGS) -DFLINTSCHED_VERSION=\"lint\"

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	  $(DESTDIR)$(PREFIX)/include/flintsched $(DESTDIR)$(PREFIX)/share/doc/flintsched \
	  $(DESTDIR)/etc/flintsched $(DESTDIR)/lib/systemd/system
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBETCD) $(LIBCFG) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 etcdclient/etcd.h etcdclient/evcurl.h config/cfg.h \
	  $(DESTDIR)$(PREFIX)/include/flintsched/
	install -m 644 docs/DESIGN.md README.md $(DESTDIR)$(PREFIX)/share/doc/flintsched/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 644 ctl/flintschedctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 deploy/flintschedctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/flintschedctl
	install -m 755 deploy/etcd-rbac.sh $(DESTDIR)$(PREFIX)/share/doc/flintsched/
	for f in deploy/*.example.yaml; do install -m 644 $$f $(DESTDIR)/etc/flintsched/; done
	for f in deploy/*.service; do \
	  sed 's|/usr/local/|$(PREFIX)/|g' $$f > $(DESTDIR)/lib/systemd/system/$$(basename $$f); done

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
