# Mailstead build. `make` builds bin/, `make test` runs everything, `make run`
# starts a private development instance under var/. Sources are picked up by
# directory, so a new module needs no Makefile change; a file whose name ends
# in main.c holds a program's main() and stays out of the libraries.

CC       ?= cc
PKGS     := libpq openssl libevent libevent_openssl jansson libargon2
CFLAGS   ?= -O2 -g
WARN     := -std=c11 -Wall -Wextra -Werror -Wformat=2 -Wno-format-truncation -Wshadow -Wno-unused-parameter \
            -Wno-missing-field-initializers
DEFS     := -D_GNU_SOURCE
INCS     := -Iserver/lib -Iserver -Iserver/imap -Iserver/mime -Iadmin
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcrypt -lpthread
CUNIT_LIBS = $(shell pkg-config --libs cunit 2>/dev/null)
ALL_CFLAGS = $(WARN) $(DEFS) $(INCS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP

B := build

LIB_SRC    := $(wildcard server/lib/*.c)
PROTO_SRC  := $(wildcard server/imap/*.c server/mime/*.c server/lmtp/*.c server/pop3/*.c)
SERVER_SRC := $(filter-out %_main.c,$(wildcard server/*.c))
ADMIND_SRC := $(filter-out %_main.c admin/admin_cli%,$(wildcard admin/*.c))
CLI_SRC    := $(filter-out %_main.c,$(wildcard admin/admin_cli*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_SUPPORT := $(filter-out tests/unit/test_%,$(wildcard tests/unit/*.c))

obj = $(patsubst %.c,$(B)/%.o,$(1))

LIB_A    := $(B)/libmailstead.a
PROTO_A  := $(B)/libproto.a
SERVER_A := $(B)/libserver.a
ADMIND_A := $(B)/libadmind.a
CLI_A    := $(B)/libcli.a
ARCHIVES := $(SERVER_A) $(ADMIND_A) $(CLI_A) $(PROTO_A) $(LIB_A)

# mailstead-imapd is built once its main exists (the IMAP issue).
PROGRAMS := $(if $(wildcard server/imapd_main.c),bin/mailstead-imapd) bin/mailstead-admind \
	bin/mailstead-admin
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
# The benchmark's load and corpus generators (tests/bench/, docs/benchmarks.md).
BENCH_BINS := $(B)/bench/loadgen $(B)/bench/corpusgen
BENCH_PKGS := libevent libevent_openssl openssl

.PHONY: all deps run test unit integration fuzz bench bench-compare clean format install
.DEFAULT_GOAL := all

all: $(PROGRAMS) $(BENCH_BINS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

define archive
$(1): $(call obj,$(2))
	@mkdir -p $$(dir $$@)
	rm -f $$@
	$$(if $$^,ar rcs $$@ $$^,ar rcs $$@)
endef
$(eval $(call archive,$(LIB_A),$(LIB_SRC)))
$(eval $(call archive,$(PROTO_A),$(PROTO_SRC)))
$(eval $(call archive,$(SERVER_A),$(SERVER_SRC)))
$(eval $(call archive,$(ADMIND_A),$(ADMIND_SRC)))
$(eval $(call archive,$(CLI_A),$(CLI_SRC)))

# The server and protocol archives call each other: link them as a group.
bin/mailstead-imapd: $(call obj,server/imapd_main.c) $(SERVER_A) $(PROTO_A) $(LIB_A)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $< -Wl,--start-group $(SERVER_A) $(PROTO_A) $(LIB_A) -Wl,--end-group \
		$(PKG_LIBS)

bin/mailstead-admind: $(call obj,admin/admind_main.c) $(ADMIND_A) $(LIB_A)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

bin/mailstead-admin: $(call obj,admin/admin_cli_main.c) $(CLI_A) $(LIB_A)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/tests/%: tests/unit/%.c $(call obj,$(UNIT_SUPPORT)) $(ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(call obj,$(UNIT_SUPPORT)) \
		-Wl,--start-group $(ARCHIVES) -Wl,--end-group $(PKG_LIBS) $(CUNIT_LIBS)

deps:
	@sh deploy/dev/deps.sh

unit: $(UNIT_BINS)

# The whole suite: unit tests, then integration tests against a throwaway
# PostgreSQL and the real daemons. One summary line at the end.
test: deps
	@$(MAKE) --no-print-directory all unit
	@sh tests/run_all.sh $(UNIT_BINS)

run: deps
	@$(MAKE) --no-print-directory all
	@sh deploy/dev/run.sh

FUZZ_CC := clang
FUZZ_SECONDS ?= 60
fuzz:
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS)

# Benchmarks (docs/benchmarks.md). `make bench`: Mailstead alone, quick
# settings (BENCH_ARGS adds options). `make bench-compare`: side by side with
# a private Dovecot instance (installed from Debian when missing), full sizes.
bench: all
	@sh tests/bench/run.sh $(BENCH_ARGS)

bench-compare: all
	@sh tests/bench/dovecot_install.sh
	@sh tests/bench/run.sh --compare $(BENCH_ARGS)

$(B)/bench/loadgen: tests/bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(DEFS) $(shell pkg-config --cflags $(BENCH_PKGS)) $(CFLAGS) -MMD -MP -o $@ $< \
		$(shell pkg-config --libs $(BENCH_PKGS)) -lm

$(B)/bench/corpusgen: tests/bench/corpusgen.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(DEFS) $(CFLAGS) -MMD -MP -o $@ $< -lm

# Installation for packagers and operators (docs/operations.md).
PREFIX  ?= /usr
DESTDIR ?=
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/share/mailstead/schema $(DESTDIR)/lib/systemd/system \
		$(DESTDIR)/etc/mailstead
	install -m 755 bin/mailstead-imapd bin/mailstead-admind $(DESTDIR)$(PREFIX)/sbin/
	install -m 755 bin/mailstead-admin $(DESTDIR)$(PREFIX)/bin/
	install -m 644 schema/*.sql $(DESTDIR)$(PREFIX)/share/mailstead/schema/
	install -m 644 deploy/systemd/*.service $(DESTDIR)/lib/systemd/system/
	test -e $(DESTDIR)/etc/mailstead/mailstead.conf || \
		install -m 640 deploy/mailstead.conf.example $(DESTDIR)/etc/mailstead/mailstead.conf

format:
	clang-format -i $(wildcard server/*.c server/*.h server/*/*.c server/*/*.h admin/*.c admin/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c)

clean:
	rm -rf $(B) bin

-include $(shell find $(B) -name '*.d' 2>/dev/null)
