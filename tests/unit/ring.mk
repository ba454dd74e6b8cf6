# test_ring compiles vgpu_sq_commit with the build's compiler to check its
# code has the full barrier the doorbell handshake needs.
TEST_CFLAGS_test_ring := -DTEST_CC='"$(CC)"' -DTEST_INCLUDE='"$(CURDIR)/include"'
$(B)/tests/test_ring: include/vgpu/ring.h
