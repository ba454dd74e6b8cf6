# Tests.  `make test` builds every unit test in tests/unit/ (test_*.c, one
# binary each, linked against the pieces named in its TEST_LIBS_<name>) and
# runs tests/run-tests.sh, which runs those binaries and every system test
# script tests/*/t-*.sh.  A test exits 0 (pass), 77 (skipped: it prints why)
# or anything else (fail).

# Per-area fragments set TEST_CFLAGS_<name> / TEST_LIBS_<name> and extra
# prerequisites of their tests.
include $(wildcard tests/unit/*.mk)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

$(B)/tests/%: tests/unit/%.c $(B)/libvgpu-common.a $(wildcard include/vgpu/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(TEST_CFLAGS_$*) -Itests/unit -o $@ $< $(TEST_LIBS_$*) \
		$(B)/libvgpu-common.a -lpthread -ldl

test: all $(UNIT_BINS)
	tests/run-tests.sh $(UNIT_BINS)

# Deliberate bugs (tests/mutate/mutants.txt), each of which the fast tests
# must catch; built and run in a temporary copy of the tree.
.PHONY: mutate
mutate:
	$(PYTHON) tests/mutate/mutate.py

# test_export_tables: the export tables against a test double of the shim
# state, and the integrity hash against tests/unit/integrity_hash_ref.py.
# It needs only cuda.h's types, so its driver_api.h is a stand-in written
# into its own build directory, not the generated one.
EXPORT_TABLES_DIR := $(B)/tests/export_tables
EXPORT_TABLES_SRCS := guest-shim/export_tables.c guest-shim/context_local_storage.c \
	guest-shim/integrity_hash.c guest-shim/log.c tests/unit/fake_shim_state.c
TEST_CFLAGS_test_export_tables := $(CUDA_INC) -I$(EXPORT_TABLES_DIR) -Iguest-shim \
	-DPYTHON='"$(PYTHON)"' -DINTEGRITY_REF='"$(CURDIR)/tests/unit/integrity_hash_ref.py"'
TEST_LIBS_test_export_tables := $(EXPORT_TABLES_SRCS)

$(B)/tests/test_export_tables: $(EXPORT_TABLES_SRCS) $(EXPORT_TABLES_DIR)/driver_api.h \
	$(wildcard guest-shim/*.h) tests/unit/integrity_hash_ref.py

$(EXPORT_TABLES_DIR)/driver_api.h:
	@mkdir -p $(dir $@)
	printf '#include <stdbool.h>\n#include <cuda.h>\n' > $@
