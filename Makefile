# ssn - PGXS build.  `make && make install`, then CREATE EXTENSION ssn.
# `make unit` builds and runs the C unit tests (no server needed).

MODULE_big = ssn
EXTENSION = ssn
DATA = ssn--1.4.sql ssn--1.0.sql ssn--1.0--1.1.sql ssn--1.1--1.2.sql ssn--1.2--1.3.sql ssn--1.3--1.4.sql
PGFILEDESC = "ssn - secure storage network (ITU-T Y.3808)"

# plain C core: no PostgreSQL headers, shared with unit tests, fuzzers, benchmark
CORE_SRCS = src/math/gf256.c src/math/field_p.c src/math/random.c src/math/crc32c.c src/math/shamir.c \
	src/crypto/base64_ct.c src/crypto/envelope.c src/crypto/pedersen.c src/crypto/commitment.c src/crypto/check_record.c src/crypto/ristretto_msm.c src/crypto/ristretto_base.c src/crypto/commit_pool.c \
	src/share/share_format.c src/share/share_batch.c src/share/secret_expr.c src/share/id_set.c src/share/secret_record.c src/share/value_list.c \
	src/lifecycle/reshare_format.c src/lifecycle/catalog_change.c src/qkd/key_id_list.c
# the backend, plane by plane from the bottom (ARCHITECTURE.md)
PG_SRCS = src/base/guc.c src/base/log_privacy.c src/base/subxact.c src/base/spi_run.c src/base/preload.c \
	src/share/share_type.c src/share/value_codec.c src/share/split_combine.c src/share/share_algebra.c \
	src/share/secret_handle.c \
	src/qkd/kme_client.c src/qkd/key_ledger.c src/qkd/kme_sql.c \
	src/net/catalog.c src/net/alarm.c src/net/peer_conn.c src/net/channel.c src/net/message_kind.c \
	src/net/receiver.c src/net/reply.c src/net/worker.c src/net/alarm_queue.c src/net/audit.c src/net/network_view.c src/net/thresholds.c src/net/peer_identity.c src/net/key_reserve.c src/net/reply_key_copies.c \
	src/compute/compute_eval.c src/compute/compute_channel.c \
	src/lifecycle/signing_key.c src/lifecycle/audit_seal.c src/lifecycle/catalog_sync.c src/lifecycle/verify.c src/lifecycle/check.c src/lifecycle/hold.c src/lifecycle/renewal_apply.c src/lifecycle/prepared.c \
	src/lifecycle/renewal.c src/lifecycle/reshare.c src/lifecycle/held_record.c \
	src/ssa/store.c src/ssa/store_policy.c src/ssa/own_writes.c src/ssa/records.c src/ssa/delete.c src/ssa/take_over.c src/ssa/owner_link.c src/ssa/retrieve.c src/ssa/secret_ops.c src/ssa/compute.c src/ssa/aggregate.c \
	src/ssn.c
OBJS = $(CORE_SRCS:.c=.o) $(PG_SRCS:.c=.o)

# every ereport of the backend files in message domain "ssn" (base/log_privacy.c
# keeps the statement out of the log lines they cause)
$(PG_SRCS:.c=.o) $(PG_SRCS:.c=.bc): CPPFLAGS += -include src/base/domain.h

REGRESS = types split_combine algebra errors statistics kme network compute renewal faults
REGRESS_OPTS = --inputdir=.

PG_CPPFLAGS = -Isrc -I$(shell $(PG_CONFIG) --includedir)
PG_CFLAGS = -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
# `make WERROR=1` (CI): every warning is an error
PG_CFLAGS += $(if $(WERROR),-Werror)
SHLIB_LINK = -lsodium -lcrypto -lcurl -lpq -pthread

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track headers: every object depends on all of ours
$(OBJS): $(wildcard src/*/*.h)

# ---- C unit tests, fuzzers, benchmarks (outside the server) ----
UNIT_CC ?= cc
UNIT_CFLAGS = -O2 -g -Wall -Wextra -Isrc $(if $(WERROR),-Werror)
UNIT_LIBS = -lsodium -lcrypto -pthread
UNIT_TESTS = $(patsubst test/unit/%.c,build/%,$(wildcard test/unit/test_*.c))

build/%: test/unit/%.c $(CORE_SRCS) src/*/*.h test/unit/unit.h
	@mkdir -p build
	$(UNIT_CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)

.PHONY: unit
unit: $(UNIT_TESTS)
	@rc=0; for t in $(UNIT_TESTS); do ./$$t || rc=1; done; exit $$rc

# constant-time checks: secrets marked undefined to valgrind's memcheck, which then
# reports any branch or memory index that depends on them (the production flags)
CT_TESTS = $(patsubst test/ct/%.c,build/%,$(wildcard test/ct/ct_*.c))

build/ct_%: test/ct/ct_%.c $(CORE_SRCS) src/*/*.h
	@mkdir -p build
	$(UNIT_CC) $(UNIT_CFLAGS) -DSSN_CT_TEST -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)

.PHONY: ct
ct: $(CT_TESTS)
	@rc=0; for t in $(CT_TESTS); do n=$$(basename $$t); \
		if valgrind -q --error-exitcode=1 --track-origins=yes ./$$t > build/$$n.log 2>&1; then \
			echo "$$n: 1 passed, 0 failed"; \
		else cat build/$$n.log; echo "$$n: 0 passed, 1 failed"; rc=1; fi; done; exit $$rc

build/bench_%: tools/bench/bench_%.c $(CORE_SRCS) src/*/*.h
	@mkdir -p build
	$(UNIT_CC) -O2 -g -Isrc -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)

EXTRA_CLEAN = build

# libFuzzer targets for every parser of outside input
FUZZ_CC ?= clang
build/fuzz_%: test/fuzz/fuzz_%.c $(CORE_SRCS) src/*/*.h
	@mkdir -p build
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Isrc -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)
