/* initw-v1 value paths, compiled: the same bytes as the numpy reference (service/core), faster.
 *
 * Every operation here is one IEEE-754 binary64 operation, rounded to nearest-even, in the order
 * docs/ALGORITHM.md writes it: no fused multiply-add (built with -ffp-contract=off), no
 * -ffast-math, no approximate reciprocal, no library transcendental. Lane-wise SIMD operations
 * round exactly as scalar ones, so the vectorised loops (GCC's auto-vectoriser, one clone per
 * instruction set, chosen at run time) give the same bits on every path. tests/core/test_kernels.py
 * holds every function to the numpy reference and to the golden vectors.
 *
 * Work is cut into blocks of BLOCK elements that stay in L1: words, then the central polynomial
 * for every lane, then the tail lanes compacted and computed together, then the affine map,
 * clamps and the rounding into the output dtype, stored once. The Python thread pool splits a
 * tensor into chunks; every function here releases the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>

#include "_bits.h"
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#define INITW_X86 1
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#define INITW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define INITW_CLONES
#endif

#define BLOCK 512
#define INLINE static inline __attribute__((always_inline)) /* inlined into each clone, so vectorised there */

/* ------------------------------------------------------------------------------------------ */
/* bits                                                                                        */

/* 2^e for -1022 <= e <= 1023, exactly. */
static inline double pow2(int e) { return as_double((uint64_t)(e + 1023) << 52); }

/* k as binary64 for 0 <= k < 2^53: exact (two exact parts, an exact sum). */
static inline double u53_to_double(uint64_t k) {
    double hi = as_double(0x4330000000000000ULL | (k >> 26)) - 4503599627370496.0; /* k >> 26 < 2^27 */
    double lo = as_double(0x4330000000000000ULL | (k & 0x3FFFFFFULL)) - 4503599627370496.0;
    return hi * 67108864.0 + lo; /* hi * 2^26 exact, the sum < 2^53 exact */
}

/* Philox4x64-10 (docs/ALGORITHM.md section 3) on the block counter (c0, c1, c2, 0). */
static inline void philox_block(uint64_t c0, uint64_t c1, uint64_t c2, uint64_t k0, uint64_t k1, uint64_t out[4]) {
    uint64_t c3 = 0;
    for (int round = 0; round < 10; round++) {
        if (round) {
            k0 += 0x9E3779B97F4A7C15ULL;
            k1 += 0xBB67AE8584CAA73BULL;
        }
        unsigned __int128 p0 = (unsigned __int128)0xD2E7470EE14C6C93ULL * c0;
        unsigned __int128 p1 = (unsigned __int128)0xCA5A826395121157ULL * c2;
        uint64_t hi0 = (uint64_t)(p0 >> 64), lo0 = (uint64_t)p0;
        uint64_t hi1 = (uint64_t)(p1 >> 64), lo1 = (uint64_t)p1;
        uint64_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

#ifdef INITW_X86
/* Six consecutive blocks at once on AVX2: four in the lanes of 256-bit registers (each 64x64-bit
 * product from four 32x32-bit ones), two in scalar registers (one 64x64 -> 128-bit multiply each),
 * in one loop body: the vector and the scalar multipliers work at the same time (measured: 2.3 ns
 * a word, where either alone takes 3.0 or 3.4). The same words as philox_block, bit for bit. */
__attribute__((target("avx2"))) static inline void mulhilo_lanes(__m256i a, uint64_t m, __m256i *hi, __m256i *lo) {
    const __m256i m_lo = _mm256_set1_epi64x((long long)(m & 0xFFFFFFFFULL)), m_hi = _mm256_set1_epi64x((long long)(m >> 32));
    const __m256i low32 = _mm256_set1_epi64x(0xFFFFFFFFLL);
    __m256i a_hi = _mm256_srli_epi64(a, 32);
    __m256i ll = _mm256_mul_epu32(a, m_lo), lh = _mm256_mul_epu32(a, m_hi);
    __m256i hl = _mm256_mul_epu32(a_hi, m_lo), hh = _mm256_mul_epu32(a_hi, m_hi);
    __m256i mid = _mm256_add_epi64(_mm256_srli_epi64(ll, 32),
                                   _mm256_add_epi64(_mm256_and_si256(lh, low32), _mm256_and_si256(hl, low32)));
    *lo = _mm256_or_si256(_mm256_and_si256(ll, low32), _mm256_slli_epi64(mid, 32));
    *hi = _mm256_add_epi64(hh, _mm256_add_epi64(_mm256_srli_epi64(lh, 32),
                                                _mm256_add_epi64(_mm256_srli_epi64(hl, 32), _mm256_srli_epi64(mid, 32))));
}

#define PHILOX_SCALAR 2
#define PHILOX_GROUP (4 + PHILOX_SCALAR) /* blocks a call */
__attribute__((target("avx2"))) static void philox_group(uint64_t block, uint64_t stream, uint64_t k0, uint64_t k1,
                                                          uint64_t *out) {
    __m256i c0 = _mm256_add_epi64(_mm256_set1_epi64x((long long)block), _mm256_setr_epi64x(0, 1, 2, 3));
    __m256i c1 = _mm256_setzero_si256(), c2 = _mm256_set1_epi64x((long long)stream), c3 = _mm256_setzero_si256();
    uint64_t s0[PHILOX_SCALAR], s1[PHILOX_SCALAR], s2[PHILOX_SCALAR], s3[PHILOX_SCALAR];
    for (int j = 0; j < PHILOX_SCALAR; j++) {
        s0[j] = block + 4 + (uint64_t)j;
        s1[j] = 0;
        s2[j] = stream;
        s3[j] = 0;
    }
    for (int round = 0; round < 10; round++) {
        if (round) {
            k0 += 0x9E3779B97F4A7C15ULL;
            k1 += 0xBB67AE8584CAA73BULL;
        }
        __m256i hi0, lo0, hi1, lo1;
        mulhilo_lanes(c0, 0xD2E7470EE14C6C93ULL, &hi0, &lo0);
        mulhilo_lanes(c2, 0xCA5A826395121157ULL, &hi1, &lo1);
        __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi64x((long long)k0));
        __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi64x((long long)k1));
        c1 = lo1;
        c3 = lo0;
        c0 = n0;
        c2 = n2;
        for (int j = 0; j < PHILOX_SCALAR; j++) {
            unsigned __int128 p0 = (unsigned __int128)0xD2E7470EE14C6C93ULL * s0[j];
            unsigned __int128 p1 = (unsigned __int128)0xCA5A826395121157ULL * s2[j];
            uint64_t n0s = (uint64_t)(p1 >> 64) ^ s1[j] ^ k0, n2s = (uint64_t)(p0 >> 64) ^ s3[j] ^ k1;
            s1[j] = (uint64_t)p1;
            s3[j] = (uint64_t)p0;
            s0[j] = n0s;
            s2[j] = n2s;
        }
    }
    /* lanes hold (c0, c1, c2, c3) of four blocks: transpose so that block j's words are consecutive */
    __m256i t0 = _mm256_unpacklo_epi64(c0, c1), t1 = _mm256_unpackhi_epi64(c0, c1);
    __m256i t2 = _mm256_unpacklo_epi64(c2, c3), t3 = _mm256_unpackhi_epi64(c2, c3);
    _mm256_storeu_si256((__m256i *)(out + 0), _mm256_permute2x128_si256(t0, t2, 0x20));
    _mm256_storeu_si256((__m256i *)(out + 4), _mm256_permute2x128_si256(t1, t3, 0x20));
    _mm256_storeu_si256((__m256i *)(out + 8), _mm256_permute2x128_si256(t0, t2, 0x31));
    _mm256_storeu_si256((__m256i *)(out + 12), _mm256_permute2x128_si256(t1, t3, 0x31));
    for (int j = 0; j < PHILOX_SCALAR; j++) {
        out[16 + 4 * j] = s0[j];
        out[17 + 4 * j] = s1[j];
        out[18 + 4 * j] = s2[j];
        out[19 + 4 * j] = s3[j];
    }
}

static int have_avx2(void) {
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return known;
}
#endif

/* Words start .. start+count-1 of stream ``stream`` (word j is lane j mod 4 of block j div 4 +
 * stream * 2^128: c0 the low 64 bits of j div 4, c1 = 0 below 2^66 words, c2 = stream). */
static void philox_words(uint64_t k0, uint64_t k1, uint64_t stream, uint64_t start, Py_ssize_t count, uint64_t *out) {
    uint64_t block = start >> 2, lane = start & 3, w[4];
    Py_ssize_t i = 0;
    if (lane) {
        philox_block(block, 0, stream, k0, k1, w);
        for (; lane < 4 && i < count; lane++) out[i++] = w[lane];
        block++;
    }
#ifdef INITW_X86
    if (have_avx2())
        for (; i + 4 * PHILOX_GROUP <= count; i += 4 * PHILOX_GROUP, block += PHILOX_GROUP)
            philox_group(block, stream, k0, k1, out + i);
#endif
    for (; i + 4 <= count; i += 4, block++) philox_block(block, 0, stream, k0, k1, out + i);
    if (i < count) {
        philox_block(block, 0, stream, k0, k1, w);
        for (lane = 0; i < count; lane++) out[i++] = w[lane];
    }
}

/* ------------------------------------------------------------------------------------------ */
/* the pinned logarithm and the AS241 quantile (docs/ALGORITHM.md sections 5 and 6)            */

static const double LN2_HI = 0x1.62e42fee00000p-1, LN2_LO = 0x1.a39ef35793c76p-33;
static const double LG1 = 0x1.5555555555593p-1, LG2 = 0x1.999999997fa04p-2, LG3 = 0x1.2492494229359p-2,
                    LG4 = 0x1.c71c51d8e78afp-3, LG5 = 0x1.7466496cb03dep-3, LG6 = 0x1.39a09d078c69fp-3,
                    LG7 = 0x1.2f112df3e5244p-3;

/* Written with 64-bit integer lanes and exact conversions only, so that every SIMD level
 * vectorises it (AVX2 has no 64-bit integer -> double conversion). */
INLINE double log_v1(double x) {
    uint64_t bits = as_bits(x);
    int64_t mant = (int64_t)(bits & 0x000FFFFFFFFFFFFFULL);
    uint64_t high = (uint64_t)(mant >= 0x6A09E667F3BCDLL); /* 1.m >= sqrt(2): halve it, k + 1 */
    double y = as_double((uint64_t)mant | (0x3FF0000000000000ULL - (high << 52)));
    double f = y - 1.0;
    /* k = exponent field - 1023 + high, exactly: the sum (< 2^12) read as a double by the 2^52 trick */
    double dk = (as_double(0x4330000000000000ULL | ((bits >> 52) + high)) - 4503599627370496.0) - 1023.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double w = z * z;
    double t1 = w * (LG2 + w * (LG4 + w * LG6));
    double t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    double r = t2 + t1;
    double hfsq = 0.5 * f * f;
    return dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f);
}

#define HORNER8(c, r) (((((((c[0] * (r) + c[1]) * (r) + c[2]) * (r) + c[3]) * (r) + c[4]) * (r) + c[5]) * (r) + c[6]) * (r) + c[7])

static const double AS_A[8] = {2.5090809287301226727e3, 3.3430575583588128105e4, 6.7265770927008700853e4,
                               4.5921953931549871457e4, 1.3731693765509461125e4, 1.9715909503065514427e3,
                               1.3314166789178437745e2, 3.3871328727963666080e0};
static const double AS_B[8] = {5.2264952788528545610e3, 2.8729085735721942674e4, 3.9307895800092710610e4,
                               2.1213794301586595867e4, 5.3941960214247511077e3, 6.8718700749205790830e2,
                               4.2313330701600911252e1, 1.0};
static const double AS_C[8] = {7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
                               1.27045825245236838258e0,  3.64784832476320460504e0,  5.76949722146069140550e0,
                               4.63033784615654529590e0,  1.42343711074968357734e0};
static const double AS_D[8] = {1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
                               1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e0,
                               2.05319162663775882187e0,  1.0};
static const double AS_E[8] = {2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
                               2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e0,
                               5.46378491116411436990e0,  6.65790464350110377720e0};
static const double AS_F[8] = {2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
                               7.86869131145613259100e-4,  1.48753612908506148525e-2, 1.36929880922735805310e-1,
                               5.99832206555887937690e-1,  1.0};

/* ndtri over a block: the central polynomial in every lane (branch-free, vectorised); then the
 * tail lanes (|p - 0.5| > 0.425, about 15%) gathered into a dense run and computed together,
 * r = sqrt(-log(min(p, 1 - p))) and C(r - 1.6) / D(r - 1.6) in every tail lane; the far tail
 * (r > 5, p < 1.4e-11: almost never) patched one by one with E(r - 5) / F(r - 5); and scattered
 * back. Every lane's value is exactly the scalar formula's. */
/* Which lanes of a group of four are set, packed first: the indices for each 4-bit mask. */
static const int8_t PACKED[16][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 0}, {2, 0, 0, 0}, {0, 2, 0, 0},
                                     {1, 2, 0, 0}, {0, 1, 2, 0}, {3, 0, 0, 0}, {0, 3, 0, 0}, {1, 3, 0, 0}, {0, 1, 3, 0},
                                     {2, 3, 0, 0}, {0, 2, 3, 0}, {1, 2, 3, 0}, {0, 1, 2, 3}};
static const int8_t SET_BITS[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};

INLINE int is_tail(double p) { return fabs(p - 0.5) > 0.425; }

/* The indices of the tail lanes of p[0 .. n), in order; their count. Four lanes a step: one
 * dependency on the count per four, where one a lane makes it a serial chain. */
INLINE int tail_lanes(const double *restrict p, int n, int *restrict tails) {
    int t = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        int mask = is_tail(p[i]) | is_tail(p[i + 1]) << 1 | is_tail(p[i + 2]) << 2 | is_tail(p[i + 3]) << 3;
        for (int k = 0; k < 4; k++) tails[t + k] = i + PACKED[mask][k]; /* the unused ones are overwritten */
        t += SET_BITS[mask];
    }
    for (; i < n; i++) {
        tails[t] = i;
        t += is_tail(p[i]);
    }
    return t;
}

INLINE void ndtri_block(const double *restrict p, double *restrict x, int n) {
    int tails[BLOCK + 4];
    double pt[BLOCK], rt[BLOCK], xt[BLOCK];
    int t = 0;
    for (int i = 0; i < n; i++) {
        double q = p[i] - 0.5;
        double r = 0.180625 - q * q;
        x[i] = (HORNER8(AS_A, r) * q) / HORNER8(AS_B, r);
    }
    t = tail_lanes(p, n, tails);
    for (int j = 0; j < t; j++) pt[j] = p[tails[j]];
    for (int j = 0; j < t; j++) {
        int lower = pt[j] - 0.5 < 0.0;
        double r = sqrt(-log_v1(choose(lower, pt[j], 1.0 - pt[j])));
        double u = r - 1.6;
        double v = HORNER8(AS_C, u) / HORNER8(AS_D, u);
        rt[j] = r;
        xt[j] = choose(lower, -v, v);
    }
    for (int j = 0; j < t; j++) {
        if (rt[j] > 5.0) {
            double u = rt[j] - 5.0;
            double v = HORNER8(AS_E, u) / HORNER8(AS_F, u);
            xt[j] = pt[j] - 0.5 < 0.0 ? -v : v;
        }
    }
    for (int j = 0; j < t; j++) x[tails[j]] = xt[j];
}

/* ------------------------------------------------------------------------------------------ */
/* rounding into the output dtype (docs/ALGORITHM.md section 9)                                */

enum { OUT_FLOAT64 = 0, OUT_FLOAT32 = 1, OUT_FLOAT16 = 2, OUT_BFLOAT16 = 3 };

/* x rounded (to nearest even) to ``fraction_bits`` bits with exponent at least ``min_exp``:
 * y = rint(x * 2^-(e - m)) * 2^(e - m), e = max(exponent of x, min_exp); |y| > max -> inf. */
INLINE double round_to_precision(double x, int64_t fraction_bits, int64_t min_exp, double max_finite) {
    int64_t e = (int64_t)((as_bits(x) >> 52) & 0x7FF) - 1023;
    e = e < min_exp ? min_exp : e;
    int64_t quantum = e - fraction_bits;
    double down = as_double((uint64_t)(1023 - quantum) << 52), up = as_double((uint64_t)(1023 + quantum) << 52);
    double y = rint(x * down) * up; /* exact scalings by 2^-quantum and 2^quantum, one rint */
    return fabs(y) > max_finite ? copysign(INFINITY, y) : y;
}

/* The binary16 bits of y, which is a float16 value (or +-inf): exact. */
INLINE uint16_t half_bits(double y) {
    uint64_t bits = as_bits(y);
    uint64_t sign = (bits >> 48) & 0x8000;
    double a = fabs(y);
    /* normal: biased exponent 1023 + e becomes 15 + e, the top 10 fraction bits stay */
    uint64_t normal = ((((bits >> 52) & 0x7FF) - 1008) << 10) | ((bits >> 42) & 0x3FF);
    /* subnormal or zero: a * 2^24 is an integer below 1024, read off the bits of a * 2^24 + 2^52 */
    uint64_t tiny = as_bits(a * 0x1p24 + 4503599627370496.0) & 0x3FF;
    uint64_t h = a < 0x1p-14 ? tiny : normal;
    h = a == INFINITY ? 0x7C00 : h;
    return (uint16_t)(sign | h);
}

INLINE void store(const double *restrict x, int n, int dtype, void *out, Py_ssize_t at) {
    switch (dtype) {
    case OUT_FLOAT64:
        memcpy((double *)out + at, x, (size_t)n * sizeof(double));
        break;
    case OUT_FLOAT32: {
        float *o = (float *)out + at;
        for (int i = 0; i < n; i++) o[i] = (float)x[i];
        break;
    }
    case OUT_FLOAT16: {
        uint16_t *o = (uint16_t *)out + at;
        for (int i = 0; i < n; i++) o[i] = half_bits(round_to_precision(x[i], 10, -14, 65504.0));
        break;
    }
    default: { /* bfloat16: the high half of the float32 that holds the rounded value exactly */
        uint16_t *o = (uint16_t *)out + at;
        for (int i = 0; i < n; i++) {
            float f = (float)round_to_precision(x[i], 7, -126, 0x1.fep+127);
            uint32_t b;
            memcpy(&b, &f, sizeof b);
            o[i] = (uint16_t)(b >> 16);
        }
    }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* the three distributions that consume words (docs/ALGORITHM.md section 8)                    */

enum { DIST_UNIFORM = 0, DIST_NORMAL = 1, DIST_TRUNCATED = 2 };

typedef struct {
    int kind;
    /* uniform: low, width, scale (width * 2^-53, or 0: scale by 2^-53 then by width), high, clamp */
    /* normal: mean, std */
    /* truncated: mean, std, pa, width, z_low, z_high, mirrored, low, high */
    double a[9];
} Dist;

static const double TWO_M52 = 0x1p-52, TWO_M53 = 0x1p-53, SMALLEST_NORMAL = 0x1p-1022;

/* numpy's minimum / maximum return the second operand on ties (signed zeros); np.clip keeps x. */
INLINE double np_minimum(double a, double b) { return a < b ? a : b; }
INLINE double np_maximum(double a, double b) { return a > b ? a : b; }
INLINE double clip(double x, double lo, double hi) {
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

/* The values of words w[0 .. n) stored into out[at .. at + n) in ``dtype``. */
INITW_CLONES
static void fill_block(const Dist *d, const uint64_t *restrict w, int n, int dtype, void *out, Py_ssize_t at) {
    double p[BLOCK], x[BLOCK];
    if (d->kind == DIST_UNIFORM) {
        double low = d->a[0], width = d->a[1], scale = d->a[2], high = d->a[3];
        int clamp = d->a[4] != 0.0;
        for (int i = 0; i < n; i++) {
            double k = u53_to_double(w[i] >> 11);
            double v = scale != 0.0 ? k * scale : (k * TWO_M53) * width;
            v = v + low;
            x[i] = clamp ? np_minimum(v, high) : v;
        }
        store(x, n, dtype, out, at);
        return;
    }
    for (int i = 0; i < n; i++) p[i] = u53_to_double(w[i] >> 12) * TWO_M52 + TWO_M53; /* uopen, exact */
    if (d->kind == DIST_NORMAL) {
        double mean = d->a[0], std = d->a[1];
        ndtri_block(p, x, n);
        for (int i = 0; i < n; i++) x[i] = (std != 1.0 ? x[i] * std : x[i]) + mean;
        store(x, n, dtype, out, at);
        return;
    }
    double mean = d->a[0], std = d->a[1], pa = d->a[2], width = d->a[3], z_low = d->a[4], z_high = d->a[5];
    int mirrored = d->a[6] != 0.0;
    double low = d->a[7], high = d->a[8];
    for (int i = 0; i < n; i++) p[i] = np_maximum(p[i] * width + pa, SMALLEST_NORMAL);
    ndtri_block(p, x, n);
    for (int i = 0; i < n; i++) {
        double z = clip(x[i], z_low, z_high);
        z = mirrored ? -z : z;
        double v = (std != 1.0 ? z * std : z) + mean;
        x[i] = clip(v, low, high);
    }
    store(x, n, dtype, out, at);
}

/* ------------------------------------------------------------------------------------------ */
/* Python entry points                                                                         */

static int writable(PyObject *obj, Py_buffer *view, Py_ssize_t count, Py_ssize_t itemsize, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->len < count * itemsize) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, %zd needed", what, view->len, count * itemsize);
        return -1;
    }
    return 0;
}

static const Py_ssize_t ITEMSIZE[4] = {8, 4, 2, 2};

/* fill(kind, params, k0, k1, start, count, out, dtype): elements start .. start+count-1. */
static PyObject *py_fill(PyObject *self, PyObject *args) {
    int kind, dtype;
    PyObject *params, *out;
    unsigned long long k0, k1, start;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "iOKKKnOi", &kind, &params, &k0, &k1, &start, &count, &out, &dtype)) return NULL;
    if (kind < 0 || kind > 2 || dtype < 0 || dtype > 3 || count < 0) {
        PyErr_SetString(PyExc_ValueError, "unknown distribution or dtype, or a negative count");
        return NULL;
    }
    Dist d = {.kind = kind};
    PyObject *seq = PySequence_Fast(params, "params must be a sequence of floats");
    if (seq == NULL) return NULL;
    Py_ssize_t np = PySequence_Fast_GET_SIZE(seq);
    if (np > 9) np = 9;
    for (Py_ssize_t i = 0; i < np; i++) d.a[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
    Py_DECREF(seq);
    if (PyErr_Occurred()) return NULL;
    Py_buffer view;
    if (writable(out, &view, count, ITEMSIZE[dtype], "out") < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS;
    uint64_t w[BLOCK];
    for (Py_ssize_t at = 0; at < count; at += BLOCK) {
        int n = (int)(count - at < BLOCK ? count - at : BLOCK);
        philox_words(k0, k1, 0, start + (uint64_t)at, n, w);
        fill_block(&d, w, n, dtype, view.buf, at);
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* words(k0, k1, stream, start, count, out): raw Philox words as uint64. */
static PyObject *py_words(PyObject *self, PyObject *args) {
    unsigned long long k0, k1, stream, start;
    Py_ssize_t count;
    PyObject *out;
    if (!PyArg_ParseTuple(args, "KKKKnO", &k0, &k1, &stream, &start, &count, &out)) return NULL;
    Py_buffer view;
    if (writable(out, &view, count, 8, "out") < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS;
    philox_words(k0, k1, stream, start, count, (uint64_t *)view.buf);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* sparse: in each group (an input's weights), zero the k whose keys are smallest, ties to the  */
/* lower position (the numpy reference: a stable sort's first k)                               */

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Groups g0 .. g1-1 of the rows x cols arrays: group g is column g (by_columns) or row g, its
 * positions the rows or the columns in order. In each, the k-th smallest key (the threshold) is
 * found by one radix pass on the keys' top 11 bits (the keys are random words: a bucket holds
 * about length / 2048 of them) and a sort of the threshold's bucket. SPARSE_BLOCK columns are
 * taken together, row by row, so every pass reads whole cache lines and none walks a column. */
#define SPARSE_BLOCK 64
#define SPARSE_BUCKETS 2048
static void sparse_groups(double *values, const uint64_t *keys, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t k,
                          int by_columns, Py_ssize_t g0, Py_ssize_t g1, uint32_t *count, uint64_t *spare) {
    Py_ssize_t length = by_columns ? rows : cols, step = by_columns ? cols : 1;
    Py_ssize_t width = by_columns ? SPARSE_BLOCK : 1;
    uint64_t threshold[SPARSE_BLOCK];
    Py_ssize_t bucket[SPARSE_BLOCK], found[SPARSE_BLOCK], take[SPARSE_BLOCK];
    for (Py_ssize_t g = g0; g < g1; g += width) {
        Py_ssize_t n = g1 - g < width ? g1 - g : width;
        const uint64_t *key = keys + (by_columns ? g : g * cols); /* element i of group g + c: key[c + i * step] */
        double *value = values + (by_columns ? g : g * cols);
        memset(count, 0, (size_t)n * SPARSE_BUCKETS * sizeof(uint32_t));
        for (Py_ssize_t i = 0; i < length; i++)
            for (Py_ssize_t c = 0; c < n; c++) count[c * SPARSE_BUCKETS + (key[c + i * step] >> 53)]++;
        Py_ssize_t below[SPARSE_BLOCK];
        for (Py_ssize_t c = 0; c < n; c++) { /* the bucket of the k-th smallest, and the keys below it */
            Py_ssize_t b = 0, before = 0;
            while (before + (Py_ssize_t)count[c * SPARSE_BUCKETS + b] <= k - 1) before += count[c * SPARSE_BUCKETS + b++];
            bucket[c] = b;
            below[c] = before;
            found[c] = 0;
        }
        /* The bucket's keys, group by group: group c's start at spare + c * length at most. */
        for (Py_ssize_t i = 0; i < length; i++)
            for (Py_ssize_t c = 0; c < n; c++) {
                uint64_t x = key[c + i * step];
                if ((Py_ssize_t)(x >> 53) == bucket[c]) spare[c * length + found[c]++] = x;
            }
        for (Py_ssize_t c = 0; c < n; c++) {
            uint64_t *b = spare + c * length;
            qsort(b, (size_t)found[c], sizeof(uint64_t), compare_u64);
            threshold[c] = b[k - 1 - below[c]];
            Py_ssize_t smaller = below[c];
            for (Py_ssize_t i = 0; i < found[c] && b[i] < threshold[c]; i++) smaller++;
            take[c] = k - smaller; /* the lowest positions whose key equals the threshold */
        }
        for (Py_ssize_t i = 0; i < length; i++)
            for (Py_ssize_t c = 0; c < n; c++) {
                uint64_t x = key[c + i * step];
                if (x < threshold[c] || (x == threshold[c] && take[c]-- > 0)) value[c + i * step] = 0.0;
            }
    }
}

/* sparse_zeros(values, keys, rows, cols, k, by_columns, first_group, stop_group) */
static PyObject *py_sparse_zeros(PyObject *self, PyObject *args) {
    PyObject *values_obj, *keys_obj;
    Py_ssize_t rows, cols, k, g0, g1;
    int by_columns;
    if (!PyArg_ParseTuple(args, "OOnnnpnn", &values_obj, &keys_obj, &rows, &cols, &k, &by_columns, &g0, &g1))
        return NULL;
    Py_ssize_t groups = by_columns ? cols : rows, length = by_columns ? rows : cols;
    if (rows < 0 || cols < 0 || k < 1 || k > length || g0 < 0 || g0 > g1 || g1 > groups) {
        PyErr_SetString(PyExc_ValueError, "sparse_zeros: bad shape, count or group range");
        return NULL;
    }
    Py_buffer values, keys;
    if (writable(values_obj, &values, rows * cols, 8, "values") < 0) return NULL;
    if (PyObject_GetBuffer(keys_obj, &keys, PyBUF_C_CONTIGUOUS) < 0 || keys.len < rows * cols * 8) {
        if (!PyErr_Occurred()) {
            PyBuffer_Release(&keys);
            PyErr_SetString(PyExc_ValueError, "sparse_zeros: keys too short");
        }
        PyBuffer_Release(&values);
        return NULL;
    }
    size_t width = by_columns ? SPARSE_BLOCK : 1;
    uint32_t *count = PyMem_RawMalloc(width * SPARSE_BUCKETS * sizeof(uint32_t));
    uint64_t *spare = PyMem_RawMalloc(width * (size_t)(length > 0 ? length : 1) * sizeof(uint64_t));
    if (count == NULL || spare == NULL) {
        PyMem_RawFree(count);
        PyMem_RawFree(spare);
        PyBuffer_Release(&values);
        PyBuffer_Release(&keys);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS;
    sparse_groups((double *)values.buf, (const uint64_t *)keys.buf, rows, cols, k, by_columns, g0, g1, count, spare);
    Py_END_ALLOW_THREADS;
    PyMem_RawFree(count);
    PyMem_RawFree(spare);
    PyBuffer_Release(&values);
    PyBuffer_Release(&keys);
    Py_RETURN_NONE;
}

/* ndtri(p, out) and log(x, out) over float64 buffers: the pieces, for the tests. */
static PyObject *elementwise(PyObject *args, int which) {
    PyObject *in, *out;
    if (!PyArg_ParseTuple(args, "OO", &in, &out)) return NULL;
    Py_buffer src, dst;
    if (PyObject_GetBuffer(in, &src, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    Py_ssize_t n = src.len / 8;
    if (writable(out, &dst, n, 8, "out") < 0) {
        PyBuffer_Release(&src);
        return NULL;
    }
    const double *p = (const double *)src.buf;
    double *x = (double *)dst.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t at = 0; at < n; at += BLOCK) {
        int m = (int)(n - at < BLOCK ? n - at : BLOCK);
        if (which == 0) {
            ndtri_block(p + at, x + at, m);
        } else {
            for (int i = 0; i < m; i++) x[at + i] = log_v1(p[at + i]);
        }
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    Py_RETURN_NONE;
}

static PyObject *py_ndtri(PyObject *self, PyObject *args) { return elementwise(args, 0); }
static PyObject *py_log(PyObject *self, PyObject *args) { return elementwise(args, 1); }

/* The instruction set the clones run on here. */
static PyObject *py_simd(PyObject *self, PyObject *noargs) {
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return PyUnicode_FromString("avx512f");
    if (__builtin_cpu_supports("avx2")) return PyUnicode_FromString("avx2");
    return PyUnicode_FromString("baseline");
#else
    return PyUnicode_FromString("baseline");
#endif
}

static PyMethodDef METHODS[] = {
    {"fill", py_fill, METH_VARARGS, "fill(kind, params, k0, k1, start, count, out, dtype)"},
    {"words", py_words, METH_VARARGS, "words(k0, k1, stream, start, count, out)"},
    {"ndtri", py_ndtri, METH_VARARGS, "ndtri(p, out): the AS241 quantile of float64 p"},
    {"log", py_log, METH_VARARGS, "log(x, out): the pinned logarithm of float64 x"},
    {"simd", py_simd, METH_NOARGS, "the instruction set the kernels run on"},
    {"sparse_zeros", py_sparse_zeros, METH_VARARGS,
     "sparse_zeros(values, keys, rows, cols, k, by_columns, first_group, stop_group)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_kernels", "initw-v1 compiled value paths", -1, METHODS};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&MODULE); }
