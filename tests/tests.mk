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
