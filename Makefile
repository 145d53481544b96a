# ssn - PGXS build.  `make && make install`, then CREATE EXTENSION ssn.
# `make unit` builds and runs the C unit tests (no server needed).

MODULE_big = ssn
EXTENSION = ssn
DATA = ssn--1.0.sql ssn--1.0--1.1.sql ssn--1.1--1.2.sql ssn--1.2--1.3.sql
PGFILEDESC = "ssn - secure storage network (ITU-T Y.3808)"

# plain C core: no PostgreSQL headers, shared with unit tests, fuzzers, benchmark
CORE_SRCS = src/gf256.c src/field_p.c src/random.c src/crc32c.c src/shamir.c src/envelope.c \
	src/share_format.c src/share_batch.c src/secret_expr.c src/id_set.c src/pedersen.c src/commitment.c \
	src/reshare_format.c src/ristretto_msm.c
PG_SRCS = src/ssn.c src/share_type.c src/value_codec.c src/split_combine.c \
	src/share_algebra.c src/guc.c src/kme_client.c src/key_ledger.c src/kme_sql.c \
	src/catalog.c src/alarm.c src/peer_conn.c src/channel.c src/secret_handle.c src/store.c \
	src/retrieve.c src/channel_sql.c src/worker.c \
	src/secret_ops.c src/compute_eval.c src/compute_channel.c src/compute.c \
	src/renewal_apply.c src/renewal.c src/signing_key.c src/verify.c src/reshare.c
OBJS = $(CORE_SRCS:.c=.o) $(PG_SRCS:.c=.o)

REGRESS = types split_combine algebra errors statistics kme network compute renewal
REGRESS_OPTS = --inputdir=.

PG_CPPFLAGS = -Isrc -I$(shell $(PG_CONFIG) --includedir)
PG_CFLAGS = -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
SHLIB_LINK = -lsodium -lcrypto -lcurl -lpq

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track headers: every object depends on all of ours
$(OBJS): $(wildcard src/*.h)

# ---- C unit tests, fuzzers, benchmarks (outside the server) ----
UNIT_CC ?= cc
UNIT_CFLAGS = -O2 -g -Wall -Wextra -Isrc
UNIT_LIBS = -lsodium -lcrypto
UNIT_TESTS = $(patsubst test/unit/%.c,build/%,$(wildcard test/unit/test_*.c))

build/%: test/unit/%.c $(CORE_SRCS) src/*.h test/unit/unit.h
	@mkdir -p build
	$(UNIT_CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)

.PHONY: unit
unit: $(UNIT_TESTS)
	@rc=0; for t in $(UNIT_TESTS); do ./$$t || rc=1; done; exit $$rc

build/bench_%: tools/bench/bench_%.c $(CORE_SRCS) src/*.h
	@mkdir -p build
	$(UNIT_CC) -O2 -g -Isrc -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)

EXTRA_CLEAN = build

# libFuzzer targets for every parser of outside input
FUZZ_CC ?= clang
build/fuzz_%: test/fuzz/fuzz_%.c $(CORE_SRCS) src/*.h
	@mkdir -p build
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Isrc -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)
