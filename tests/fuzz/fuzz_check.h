/* fuzz_check.h: the one assertion macro of the fuzz targets, active whatever NDEBUG says. */
#ifndef STARLING_TESTS_FUZZ_CHECK_H
#define STARLING_TESTS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

/* An invariant of the code under test: when it does not hold, libFuzzer records the input as a
 * crash (abort() is caught as a deadly signal). */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
