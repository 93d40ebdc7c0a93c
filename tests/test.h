/*
 * test.h: the few macros SegArena's C tests share. Each test program runs its
 * checks, prints one line per failure and a closing "N passed, N failed" line,
 * and exits non-zero when anything failed (ctest reads the exit status).
 */
#ifndef SEGARENA_TEST_H
#define SEGARENA_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_passed_count, test_failed_count;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (cond) {                                                                 \
            test_passed_count++;                                                    \
        } else {                                                                    \
            test_failed_count++;                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                       \
    do {                                                                            \
        double check_a_ = (double)(a), check_b_ = (double)(b);                      \
        if (fabs(check_a_ - check_b_) <= (tol)) {                                   \
            test_passed_count++;                                                    \
        } else {                                                                    \
            test_failed_count++;                                                    \
            fprintf(stderr, "%s:%d: %s = %.17g, expected %s = %.17g (tol %g)\n",     \
                    __FILE__, __LINE__, #a, check_a_, #b, check_b_, (double)(tol)); \
        }                                                                           \
    } while (0)

#define CHECK_STR_CONTAINS(haystack, needle)                                        \
    do {                                                                            \
        const char *check_h_ = (haystack);                                          \
        if (check_h_ && strstr(check_h_, (needle))) {                               \
            test_passed_count++;                                                    \
        } else {                                                                    \
            test_failed_count++;                                                    \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,      \
                    __LINE__, check_h_ ? check_h_ : "(null)", (needle));            \
        }                                                                           \
    } while (0)

static inline int test_report(const char *name) {
    printf("%s: %d passed, %d failed\n", name, test_passed_count, test_failed_count);
    return test_failed_count == 0 && test_passed_count > 0 ? 0 : 1;
}

#endif
