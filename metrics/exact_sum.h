/*
 * exact_sum.h: private. Exact sums of non-negative distances, rounded once.
 *
 * A floating-point sum depends on the order of its additions, and a GPU adds in
 * whatever order its threads finish. So the engine sums distances exactly, in a
 * 192-bit fixed-point accumulator whose unit is 2^-80 mm, and rounds the exact
 * total to the nearest double (ties to even) once. Integer addition is
 * associative: any order, any split across threads or blocks, gives the same
 * bits, on the CPU and on the GPU (these are SA_HOST_DEVICE functions).
 *
 * Range: a distance d >= 2^-28 (the engine's smallest spacing, 1e-6 mm, is
 * above 2^-20) and < 2^60 is held exactly; the bits of a smaller d below 2^-80
 * are dropped (the same on every path); totals stay below 2^112.
 */
#ifndef SEGARENA_EXACT_SUM_H
#define SEGARENA_EXACT_SUM_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "host_device.h"

#define SA_EXACT_FRACTION_BITS 80

typedef struct sa_exact_sum {
    uint64_t w[3]; /* little-endian words of a 192-bit unsigned integer, unit 2^-80 */
} sa_exact_sum;

SA_HOST_DEVICE static inline void sa_exact_clear(sa_exact_sum *a) { a->w[0] = a->w[1] = a->w[2] = 0; }

/* a += b */
SA_HOST_DEVICE static inline void sa_exact_merge(sa_exact_sum *a, const sa_exact_sum *b) {
    uint64_t carry = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t s = a->w[i] + b->w[i];
        uint64_t c1 = s < b->w[i];
        uint64_t t = s + carry;
        uint64_t c2 = t < carry;
        a->w[i] = t;
        carry = c1 | c2;
    }
}

/* Adds d (finite, >= 0). */
SA_HOST_DEVICE static inline void sa_exact_add(sa_exact_sum *a, double d) {
    if (!(d > 0)) return;
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    int biased = (int)(bits >> 52);
    uint64_t mant = bits & ((1ull << 52) - 1);
    int e; /* d = mant * 2^(e) exactly */
    if (biased == 0) {
        e = -1074;
    } else {
        mant |= 1ull << 52;
        e = biased - 1075;
    }
    int shift = e + SA_EXACT_FRACTION_BITS; /* position of mant's bit 0, in units */
    if (shift < 0) {
        if (shift <= -64) return;
        mant >>= -shift;
        shift = 0;
    }
    int word = shift / 64, bit = shift % 64;
    if (word > 2) return; /* beyond range: cannot happen for d < 2^60 */
    sa_exact_sum term = {{0, 0, 0}};
    term.w[word] = mant << bit;
    if (word < 2 && bit) term.w[word + 1] = mant >> (64 - bit);
    sa_exact_merge(a, &term);
}

/* The exact total rounded to the nearest double, ties to even. */
SA_HOST_DEVICE static inline double sa_exact_round(const sa_exact_sum *a) {
    int top = -1; /* index of the highest set bit */
    for (int i = 2; i >= 0 && top < 0; i--)
        if (a->w[i])
            for (int b = 63; b >= 0; b--)
                if ((a->w[i] >> b) & 1u) {
                    top = i * 64 + b;
                    break;
                }
    if (top < 0) return 0.0;
    /* the 53 bits [top-52, top], then round on the bits below */
    int low = top - 52;
    uint64_t mant = 0;
    int round_bit = 0, sticky = 0;
    for (int p = top; p >= 0 && p >= low - 1; p--) {
        int bit = (int)((a->w[p / 64] >> (p % 64)) & 1u);
        if (p >= low)
            mant = (mant << 1) | (uint64_t)bit;
        else
            round_bit = bit;
    }
    if (low < 0) return ldexp((double)mant, -SA_EXACT_FRACTION_BITS); /* under 53 bits: exact */
    if (low - 1 > 0) {
        for (int p = low - 2; p >= 0 && !sticky; p--)
            if ((a->w[p / 64] >> (p % 64)) & 1u) sticky = 1;
    }
    if (low > 0 && round_bit && (sticky || (mant & 1u))) {
        mant++;
        if (mant >> 53) { /* carried into a new bit */
            mant >>= 1;
            low++;
        }
    }
    return ldexp((double)mant, low - SA_EXACT_FRACTION_BITS);
}

#endif
