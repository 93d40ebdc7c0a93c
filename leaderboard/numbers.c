/*
 * numbers.c: how the pages write a number (docs/ranking.md, "Numbers on the
 * pages"): fixed-point, never e-notation; at least 4 significant digits
 * (distances in mm: at least 2 decimals); a value that is not a whole number
 * never reads as one (a Dice of 0.99996 is "0.99996", not "1.0000"); and in a
 * table, one number of decimals per column, enough that two different values
 * of a ranked column never read the same at the column's final count (up to 17
 * significant digits, which tell any two doubles apart; checked for every pair
 * again whenever the count grows, since rounding is not nested). Fewer decimals only where every value of the
 * column is exact with fewer (0.5 and 0.75 as "0.50" and "0.75"). The JSON
 * answers are not touched by any of this: they carry every double exactly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"
#include "web.h"

#define SIGNIFICANT 4   /* digits every value shows at least */
#define EXACT_DIGITS 17 /* significant digits that tell any two doubles apart */
#define MAX_DECIMALS 20 /* beyond: a value nearer to 0 than 1e-20 is shown as "≈0" */
#define TEXT_SIZE 400   /* "%.20f" of the largest double: 309 digits, '.', 20 */

#define APPROX "\xE2\x89\x88" /* ≈ */

static void fixed(char *buf, double v, int decimals) {
    snprintf(buf, TEXT_SIZE, "%.*f", decimals, v == 0 ? 0.0 : v); /* no "-0" */
}

/* The power of ten of |v| (v finite, not 0): 0.0123 -> -2. */
static int exponent(double v) {
    return (int)floor(log10(fabs(v)));
}

static int clamp_decimals(int d) {
    return d < 0 ? 0 : d > MAX_DECIMALS ? MAX_DECIMALS : d;
}

/* Decimals that give v `digits` significant digits. */
static int decimals_for_digits(double v, int digits) {
    return v == 0 ? 0 : clamp_decimals(digits - 1 - exponent(v));
}

/* 1 when the text has no digit other than 0 after its point (or no point). */
static int looks_whole(const char *text) {
    const char *point = strchr(text, '.');
    if (!point) return 1;
    for (const char *p = point + 1; *p; p++)
        if (*p != '0') return 0;
    return 1;
}

/* 1 when every digit of the text is 0 (it reads as zero). */
static int looks_zero(const char *text) {
    for (const char *p = text; *p; p++)
        if (*p >= '1' && *p <= '9') return 0;
    return 1;
}

/* At least d; more while v, not a whole number, would read as one. */
static int not_whole(double v, int d) {
    if (v == floor(v)) return d;
    char text[TEXT_SIZE];
    int most = decimals_for_digits(v, EXACT_DIGITS);
    for (fixed(text, v, d); d < most && looks_whole(text); fixed(text, v, d)) d++;
    return d;
}

/* At least d; more while a and b (a != b) would read the same. */
static int apart(double a, double b, int d) {
    int most = decimals_for_digits(a, EXACT_DIGITS), other = decimals_for_digits(b, EXACT_DIGITS);
    if (other > most) most = other;
    char ta[TEXT_SIZE], tb[TEXT_SIZE];
    for (;;) {
        fixed(ta, a, d);
        fixed(tb, b, d);
        if (d >= most || strcmp(ta, tb) != 0) return d;
        d++;
    }
}

/* 1 when every value of v[] reads back as itself with d decimals. */
static int all_exact(const double *v, size_t n, int d) {
    char text[TEXT_SIZE];
    for (size_t i = 0; i < n; i++) {
        fixed(text, v[i], d);
        if (strtod(text, NULL) != v[i]) return 0;
    }
    return 1;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The finite values of values[], sorted, in a new array (*k of them); NULL out
 * of memory. */
static double *finite_sorted(const double *values, size_t n, size_t *k) {
    double *v = malloc((n + 1) * sizeof *v);
    *k = 0;
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++)
        if (isfinite(values[i])) v[(*k)++] = values[i];
    qsort(v, *k, sizeof *v, by_value);
    return v;
}

/* At least d; the fewest at which every two neighbours of the sorted v[] that
 * differ read differently. One pass raises d for a pair, which may merge a pair
 * checked before it (rounding is not nested): passes until d holds for all. */
static int all_apart(const double *v, size_t k, int d) {
    for (int before = -1; d != before;) {
        before = d;
        for (size_t i = 1; i < k; i++)
            if (v[i] != v[i - 1]) d = apart(v[i - 1], v[i], d);
    }
    return d;
}

int sa_render_decimals_apart(const double *values, size_t n, int decimals) {
    size_t k;
    double *v = finite_sorted(values, n, &k);
    if (!v) return MAX_DECIMALS;
    int d = all_apart(v, k, clamp_decimals(decimals));
    free(v);
    return d;
}

int sa_render_decimals(const double *values, size_t n, int min_decimals, int distinct) {
    size_t k;
    double *v = finite_sorted(values, n, &k);
    if (!v) return MAX_DECIMALS; /* every rule holds with the most decimals */
    int d = min_decimals >= 0 ? clamp_decimals(min_decimals) : 0;
    for (size_t i = 0; i < k; i++) {
        if (min_decimals < 0) {
            int digits = decimals_for_digits(v[i], SIGNIFICANT);
            if (digits > d) d = digits;
        }
    }
    for (size_t i = 0; i < k; i++) d = not_whole(v[i], d);
    if (distinct) d = all_apart(v, k, d);
    for (int fewer = 0; fewer < d; fewer++) /* an exact column needs no more */
        if (all_exact(v, k, fewer)) { /* (exact: different values read differently) */
            d = fewer;
            break;
        }
    free(v);
    return d;
}

int sa_render_min_decimals(const char *metric) {
    return metric && !strcmp(sa_render_unit(metric), "mm") ? 2 : -1;
}

void sa_strbuf_append_fixed(sa_strbuf *b, double v, int decimals) {
    if (!isfinite(v)) {
        sa_strbuf_append(b, SA_RENDER_NO_VALUE);
        return;
    }
    char text[TEXT_SIZE];
    fixed(text, v, clamp_decimals(decimals));
    if (v != 0 && looks_zero(text)) { /* nearer to 0 than the decimals show */
        sa_strbuf_append(b, APPROX);
        sa_strbuf_append(b, text[0] == '-' ? text + 1 : text);
        return;
    }
    sa_strbuf_append(b, text);
}

void sa_strbuf_append_metric_number(sa_strbuf *b, const char *metric, double v) {
    sa_strbuf_append_fixed(b, v, sa_render_decimals(&v, 1, sa_render_min_decimals(metric), 0));
}

void sa_strbuf_append_number(sa_strbuf *b, double v) {
    sa_strbuf_append_metric_number(b, NULL, v);
}
