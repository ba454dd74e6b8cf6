/* SPDX-License-Identifier: MIT */
/* A minimal check macro for the unit tests: print the failing expression and count it. */
#ifndef VGPU_TEST_H
#define VGPU_TEST_H

#include <stdio.h>

static int test_failures;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                               \
			test_failures++;                                              \
		}                                                                     \
	} while (0)

#define TEST_RESULT() (test_failures ? (fprintf(stderr, "%d checks failed\n", test_failures), 1) : 0)

#endif /* VGPU_TEST_H */
