/*
 * test_percentile.c: sa_percentile against hand-worked cases and, with --emit,
 * prints random samples and its answers for percentile_vs_numpy.py to check
 * bit for bit against numpy.percentile (the rule the spec names).
 */
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "metrics.h"

static uint64_t state = 88172645463325252ull;
static uint64_t next(void) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
}

static void emit(void) {
    static const double qs[] = {0, 5, 25, 50, 95, 99, 100, 95.5, 33.3};
    for (int s = 0; s < 300; s++) {
        size_t n = 1 + next() % (s < 100 ? 10 : 3000);
        double *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w);
        int dup = (int)(next() % 3);
        for (size_t i = 0; i < n; i++)
            v[i] = dup == 0 ? (double)(next() >> 11) / 1e12 : sqrt((double)(next() % (dup == 1 ? 5 : 200)));
        double q = qs[next() % 9];
        memcpy(w, v, n * sizeof *v);
        printf("%zu %a %a", n, q, sa_percentile(w, n, q));
        for (size_t i = 0; i < n; i++) printf(" %a", v[i]);
        printf("\n");
        free(v), free(w);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--emit") == 0) {
        emit();
        return 0;
    }
    double one[] = {7.5};
    CHECK(sa_percentile(one, 1, 95) == 7.5);
    CHECK(sa_percentile(one, 1, 0) == 7.5);
    double four[] = {4, 1, 3, 2}; /* sorted 1 2 3 4: position 3*0.95 = 2.85 -> 3.85 */
    CHECK_NEAR(sa_percentile(four, 4, 95), 3.85, 1e-15);
    double four_b[] = {4, 1, 3, 2};
    CHECK(sa_percentile(four_b, 4, 100) == 4);
    double four_c[] = {4, 1, 3, 2};
    CHECK(sa_percentile(four_c, 4, 0) == 1);
    double four_d[] = {4, 1, 3, 2}; /* position 1.5 -> 2.5 */
    CHECK(sa_percentile(four_d, 4, 50) == 2.5);
    double same[1000];
    for (int i = 0; i < 1000; i++) same[i] = 2.0;
    CHECK(sa_percentile(same, 1000, 95) == 2.0);
    /* selection agrees with sorting on random data with many ties */
    int agree = 1;
    for (int s = 0; s < 200; s++) {
        size_t n = 1 + next() % 500;
        double *v = malloc(n * sizeof *v), *sorted = malloc(n * sizeof *v);
        for (size_t i = 0; i < n; i++) sorted[i] = v[i] = (double)(next() % 17);
        for (size_t i = 1; i < n; i++) /* insertion sort */
            for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                double t = sorted[j];
                sorted[j] = sorted[j - 1], sorted[j - 1] = t;
            }
        double h = (double)(n - 1) * 0.95, a = sorted[(size_t)h], b = (size_t)h + 1 < n ? sorted[(size_t)h + 1] : a;
        double t = h - floor(h), want = t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
        agree &= sa_percentile(v, n, 95) == want;
        free(v), free(sorted);
    }
    CHECK(agree);
    return test_report("test_percentile");
}
