/* The bit-level helpers both compiled kernels share (_kernels.c, _diagnose.c). Header-only: each
 * includes it once, so the functions are inlined into every target_clones variant. */
#ifndef INITW_BITS_H
#define INITW_BITS_H

#include <stdint.h>
#include <string.h>

static inline double as_double(uint64_t bits) {
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static inline uint64_t as_bits(double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

/* cond ? a : b, as a bit blend: GCC's vectoriser takes it where a branchy select stops it. */
static inline __attribute__((always_inline)) double choose(int cond, double a, double b) {
    uint64_t mask = -(uint64_t)(cond != 0);
    return as_double((as_bits(a) & mask) | (as_bits(b) & ~mask));
}

#endif
