/* initw-v1 header diagnostics, compiled: the same report as the numpy reference (service/core/diagnose.py).
 *
 * The diagnostics of a tensor are part of its file (the safetensors header), so every figure here is
 * computed exactly as the reference computes it: one IEEE-754 binary64 operation at a time, rounded
 * to nearest-even, in the reference's order. No fused multiply-add (built with -ffp-contract=off),
 * no -ffast-math, no library transcendental except ldexp where the reference's np.ldexp calls it.
 * Lane-wise SIMD operations round exactly as scalar ones. tests/core/test_diagnose.py holds every
 * function to the numpy reference, and test_golden.py / test_artifact.py the files' bytes.
 *
 *   block(x, start, center, bounds, ks_stride, ks_out, ks_at, units)
 *       one pass over a 65536-element block of stored values (float32 or float64): the four moment
 *       sums of d = x - center (pinned tree order, the tree's first level fused into the pass, no
 *       temporaries of the block's size), extremes, non-finite and out-of-support counts, the KS
 *       subsample, the per-unit squared norms (numpy's bincount order) and the sampled rows.
 *   ks(x, kind, params)    max(i/n - F(x_(i))) and max(F(x_(i)) - (i-1)/n) over a sample, sorting only
 *                          the buckets of values that can hold a maximum
 *   cdf(kind, params, x, out)   the theory's CDF, as distributions.py writes it (for the tests)
 *   coherence(rows)        max |cos| between sampled rows (pinned dot products), None for a zero row
 *   tree_sum(x)            the pinned tree sum of a float64 vector (for the tests)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>

#include "_bits.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif
#define INLINE static inline __attribute__((always_inline))

INLINE int is_finite(double v) { return (as_bits(v) & 0x7FF0000000000000ULL) != 0x7FF0000000000000ULL; }

/* pinned.tree_sum, in place: each level adds the second half to the first (a[i] + a[i + h]) and
 * carries an odd last element to the end, until one element remains. */
CLONES
static double tree_reduce(double *a, Py_ssize_t n) {
    if (n == 0) return 0.0;
    while (n > 1) {
        Py_ssize_t h = n / 2;
        const double *restrict hi = a + h;
        double *restrict lo = a;
        for (Py_ssize_t i = 0; i < h; i++) lo[i] = lo[i] + hi[i];
        if (n & 1) {
            a[h] = a[n - 1];
            n = h + 1;
        } else {
            n = h;
        }
    }
    return a[0];
}

/* ------------------------------------------------------------------------------------------ */
/* one block of stored values                                                                  */

typedef struct {
    double s[4], min, max;
    Py_ssize_t nonfinite, outside;
} Block;

INLINE double load(const void *x, int f32, Py_ssize_t i) {
    return f32 ? (double)((const float *)x)[i] : ((const double *)x)[i];
}

#define LANES 8

/* The moments, extremes and counts of x[0 .. n): the first level of the four trees is summed in
 * this pass into ``scratch`` (4 * (n/2 + 1) doubles), pairing x[i] with x[i + n/2] as the tree
 * does; the other levels after. Lanes keep their own extremes and counts (combined at the end),
 * so the loop vectorises; a non-finite value is replaced by the center, as the reference does.
 * Without bounds, low = -inf and high = inf count nothing. */
INLINE void block_pass(const void *x, int f32, Py_ssize_t n, double center, double low, double high, double *scratch,
                       Block *out) {
    Py_ssize_t h = n / 2, w = h + (n & 1);
    double *restrict s1 = scratch, *restrict s2 = scratch + w, *restrict s3 = scratch + 2 * w,
                     *restrict s4 = scratch + 3 * w;
    double mn[LANES], mx[LANES];
    int64_t bad[LANES], outside[LANES];
    for (int l = 0; l < LANES; l++) {
        mn[l] = INFINITY;
        mx[l] = -INFINITY;
        bad[l] = outside[l] = 0;
    }
    Py_ssize_t i = 0;
    for (; i + LANES <= h; i += LANES) {
        for (int l = 0; l < LANES; l++) {
            double a = load(x, f32, i + l), b = load(x, f32, i + h + l);
            int fa = is_finite(a), fb = is_finite(b);
            bad[l] += (int64_t)(!fa) + (int64_t)(!fb);
            a = choose(fa, a, center);
            b = choose(fb, b, center);
            mn[l] = choose(a < mn[l], a, mn[l]);
            mn[l] = choose(b < mn[l], b, mn[l]);
            mx[l] = choose(a > mx[l], a, mx[l]);
            mx[l] = choose(b > mx[l], b, mx[l]);
            outside[l] += (int64_t)((a < low) | (a > high)) + (int64_t)((b < low) | (b > high));
            double da = a - center, db = b - center;
            double qa = da * da, qb = db * db;
            s1[i + l] = da + db;
            s2[i + l] = qa + qb;
            s3[i + l] = qa * da + qb * db;
            s4[i + l] = qa * qa + qb * qb;
        }
    }
    for (; i < h; i++) {
        double a = load(x, f32, i), b = load(x, f32, i + h);
        int fa = is_finite(a), fb = is_finite(b);
        bad[0] += (int64_t)(!fa) + (int64_t)(!fb);
        a = fa ? a : center;
        b = fb ? b : center;
        mn[0] = a < mn[0] ? a : mn[0];
        mn[0] = b < mn[0] ? b : mn[0];
        mx[0] = a > mx[0] ? a : mx[0];
        mx[0] = b > mx[0] ? b : mx[0];
        outside[0] += (int64_t)((a < low) | (a > high)) + (int64_t)((b < low) | (b > high));
        double da = a - center, db = b - center;
        double qa = da * da, qb = db * db;
        s1[i] = da + db;
        s2[i] = qa + qb;
        s3[i] = qa * da + qb * db;
        s4[i] = qa * qa + qb * qb;
    }
    if (n & 1) { /* the odd last element: carried to the end of the first level */
        double a = load(x, f32, n - 1);
        int fa = is_finite(a);
        bad[0] += !fa;
        a = fa ? a : center;
        mn[0] = a < mn[0] ? a : mn[0];
        mx[0] = a > mx[0] ? a : mx[0];
        outside[0] += (a < low) | (a > high);
        double da = a - center, qa = da * da;
        s1[h] = da;
        s2[h] = qa;
        s3[h] = qa * da;
        s4[h] = qa * qa;
    }
    out->min = INFINITY;
    out->max = -INFINITY;
    out->nonfinite = out->outside = 0;
    for (int l = 0; l < LANES; l++) {
        out->min = mn[l] < out->min ? mn[l] : out->min;
        out->max = mx[l] > out->max ? mx[l] : out->max;
        out->nonfinite += (Py_ssize_t)bad[l];
        out->outside += (Py_ssize_t)outside[l];
    }
}

CLONES
static void block_moments(const void *x, int f32, Py_ssize_t n, double center, double low, double high,
                          double *scratch, Block *out) {
    if (f32)
        block_pass(x, 1, n, center, low, high, scratch, out);
    else
        block_pass(x, 0, n, center, low, high, scratch, out);
    Py_ssize_t w = n / 2 + (n & 1);
    for (int k = 0; k < 4; k++) out->s[k] = tree_reduce(scratch + k * w, w);
}

INLINE double cleaned(const void *x, int f32, Py_ssize_t i, double center) {
    double v = load(x, f32, i);
    return is_finite(v) ? v : center;
}

typedef struct {
    int torch;
    Py_ssize_t cols, count, length, sampled;
    double *norm_sq;     /* count */
    const int64_t *slot; /* count: the unit's row in ``rows``, or -1 */
    double *rows;        /* sampled x length */
} Units;

/* Per-unit sums of squares as numpy's bincount adds them (in element order, from 0, then added to
 * norm_sq), and the sampled units' values, for elements start .. start+n-1. */
static int units_pass(const void *x, int f32, Py_ssize_t n, long long start, double center, const Units *u) {
    if (u->torch) { /* unit = index // cols: contiguous runs */
        Py_ssize_t i = 0;
        while (i < n) {
            long long index = start + i;
            Py_ssize_t unit = (Py_ssize_t)(index / u->cols), pos = (Py_ssize_t)(index % u->cols);
            Py_ssize_t run = u->cols - pos < n - i ? u->cols - pos : n - i;
            double partial = 0.0;
            int64_t slot = u->slot[unit];
            double *row = slot >= 0 ? u->rows + slot * u->length + pos : NULL;
            for (Py_ssize_t j = 0; j < run; j++) {
                double v = cleaned(x, f32, i + j, center);
                partial = partial + v * v;
                if (row) row[j] = v;
            }
            u->norm_sq[unit] = u->norm_sq[unit] + partial;
            i += run;
        }
        return 0;
    }
    /* keras / jax: unit = index % cols, position = index // cols */
    Py_ssize_t touched = n < u->cols ? n : u->cols;
    double *partial = calloc((size_t)u->cols, sizeof(double));
    if (partial == NULL) return -1;
    Py_ssize_t unit = (Py_ssize_t)(start % u->cols), pos = (Py_ssize_t)(start / u->cols);
    for (Py_ssize_t i = 0; i < n; i++) {
        double v = cleaned(x, f32, i, center);
        partial[unit] = partial[unit] + v * v;
        int64_t slot = u->slot[unit];
        if (slot >= 0) u->rows[slot * u->length + pos] = v;
        if (++unit == u->cols) {
            unit = 0;
            pos++;
        }
    }
    unit = (Py_ssize_t)(start % u->cols);
    for (Py_ssize_t k = 0; k < touched; k++) {
        u->norm_sq[unit] = u->norm_sq[unit] + partial[unit];
        if (++unit == u->cols) unit = 0;
    }
    free(partial);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* the theories' CDFs (service/core/distributions.py) and the KS statistic                     */

enum { CDF_UNIFORM = 0, CDF_NORMAL = 1, CDF_TRUNCATED = 2 };

static const double LN2_HI = 0x1.62e42fee00000p-1, LN2_LO = 0x1.a39ef35793c76p-33, INV_LN2 = 0x1.71547652b82fep+0;
static const double EXP_P[5] = {0x1.555555555553ep-3, -0x1.6c16c16bebd93p-9, 0x1.1566aaf25de2cp-14,
                                -0x1.bbd41c5d26bf1p-20, 0x1.6376972bea4d0p-25};
/* Numerical Recipes' erfcc, as distributions._ERFCC writes them (the same decimal literals) */
static const double ERFCC[10] = {0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
                                 -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223};

/* numpy's clip of a number: max(x, lo), then min(., hi), each keeping x unless the bound is past it;
 * NaN stays NaN */
INLINE double np_clip(double x, double lo, double hi) {
    x = x > lo || x != x ? x : lo;
    return x < hi || x != x ? x : hi;
}

/* pinned.exp's reduction and kernel for x already clipped: y in (0.7, 1.5) and k with
 * exp(x) = y * 2^k; the callers scale (pinned_exp, pinned_exp_lanes). */
INLINE double exp_kernel(double x, double *k_out) {
    double k = rint(x * INV_LN2);
    double hi = x - k * LN2_HI;
    double lo = k * LN2_LO;
    double r = hi - lo;
    double t = r * r;
    double c = r - t * (EXP_P[0] + t * (EXP_P[1] + t * (EXP_P[2] + t * (EXP_P[3] + t * EXP_P[4]))));
    *k_out = k;
    return 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
}

/* pinned.exp for finite x: the reference's clip, rint, reduction and kernel, then np.ldexp (C's
 * ldexp): exact, a scaling by a power of two, wherever the result is normal. */
INLINE double pinned_exp(double x) {
    double k;
    double y = exp_kernel(np_clip(x, -746.0, 709.0), &k);
    int e = (int)k;
    if (e >= -1021 && e <= 1023) return y * as_double((uint64_t)(e + 1023) << 52); /* y in (0.7, 1.5): normal */
    return ldexp(y, e);
}

/* distributions.normal_cdf */
INLINE double normal_cdf(double z) {
    double x = fabs(z) * 0x1.6a09e667f3bcdp-1;
    double t = 1.0 / (1.0 + 0.5 * x);
    double poly = ERFCC[0];
    for (int j = 1; j < 10; j++) poly = poly * t + ERFCC[j];
    double erfc = t * pinned_exp(-x * x + poly);
    double half = 0.5 * erfc;
    return z < 0 ? half : 1.0 - half;
}

/* np_clip as bit blends, for SIMD lanes */
INLINE double clip_lanes(double x, double lo, double hi) {
    x = choose((x > lo) | (x != x), x, lo);
    return choose((x < hi) | (x != x), x, hi);
}

/* pinned_exp with the scaling by 2^k done on the bits, branch-free for SIMD lanes: exact where the
 * result is normal (k >= -1021); elsewhere it sets *slow and the caller recomputes with pinned_exp. */
INLINE double pinned_exp_lanes(double x, int *slow) {
    double k;
    double y = exp_kernel(clip_lanes(x, -746.0, 709.0), &k);
    /* k is an integer with |k| < 1100: k + 1.5 * 2^52 holds k + 2^51 in its low fraction bits */
    int64_t e = (int64_t)(as_bits(k + 0x1.8p52) & 0x000FFFFFFFFFFFFFULL) - 0x0008000000000000LL;
    *slow |= e < -1021;
    return y * as_double((uint64_t)(e + 1023) << 52);
}

INLINE double normal_cdf_lanes(double z, int *slow) {
    double x = fabs(z) * 0x1.6a09e667f3bcdp-1;
    double t = 1.0 / (1.0 + 0.5 * x);
    double poly = ERFCC[0];
    for (int j = 1; j < 10; j++) poly = poly * t + ERFCC[j];
    double erfc = t * pinned_exp_lanes(-x * x + poly, slow);
    double half = 0.5 * erfc;
    return choose(z < 0, half, 1.0 - half);
}

typedef struct {
    int kind;
    double a[5]; /* uniform: low, width; normal: mean, std; truncated: mean, std, mirrored, F(a'), F(b') */
} Cdf;

/* The theory's CDF at x, as the Theory's lambda computes it. */
INLINE double cdf_at(const Cdf *c, double x) {
    switch (c->kind) {
    case CDF_UNIFORM:
        return np_clip((x - c->a[0]) / c->a[1], 0.0, 1.0);
    case CDF_NORMAL:
        return normal_cdf((x - c->a[0]) / c->a[1]);
    default: {
        double z = (x - c->a[0]) / c->a[1];
        if (c->a[2] != 0.0) { /* mirrored: (Q(alpha) - Q(z)) / (Q(alpha) - Q(beta)), Q(t) = Phi(-t) */
            double qa = c->a[3], qb = c->a[4];
            return np_clip((qa - normal_cdf(-z)) / (qa - qb), 0.0, 1.0);
        }
        double pa = c->a[3], pb = c->a[4];
        return np_clip((normal_cdf(z) - pa) / (pb - pa), 0.0, 1.0);
    }
    }
}

/* f[i] = F(x[i]) for the whole sample, one loop per kind so that each vectorises; lanes whose exp
 * would need ldexp's rounding (a result below 2^-1021: |z| beyond about 37) send the sample
 * through the scalar form instead. */
CLONES
static void cdf_values(const Cdf *c, const double *restrict x, double *restrict f, Py_ssize_t n) {
    double a0 = c->a[0], a1 = c->a[1], a3 = c->a[3], a4 = c->a[4];
    int slow = 0;
    if (c->kind == CDF_UNIFORM) {
        for (Py_ssize_t i = 0; i < n; i++) f[i] = clip_lanes((x[i] - a0) / a1, 0.0, 1.0);
        return;
    }
    if (c->kind == CDF_NORMAL) {
        for (Py_ssize_t i = 0; i < n; i++) f[i] = normal_cdf_lanes((x[i] - a0) / a1, &slow);
    } else if (c->a[2] != 0.0) {
        for (Py_ssize_t i = 0; i < n; i++) {
            double z = (x[i] - a0) / a1;
            f[i] = clip_lanes((a3 - normal_cdf_lanes(-z, &slow)) / (a3 - a4), 0.0, 1.0);
        }
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            double z = (x[i] - a0) / a1;
            f[i] = clip_lanes((normal_cdf_lanes(z, &slow) - a3) / (a4 - a3), 0.0, 1.0);
        }
    }
    if (slow)
        for (Py_ssize_t i = 0; i < n; i++) f[i] = cdf_at(c, x[i]);
}

typedef struct {
    double x, f;
} Point;

static int compare_points(const void *p, const void *q) {
    double a = ((const Point *)p)->x, b = ((const Point *)q)->x;
    return (a > b) - (a < b);
}

static void sort_points(Point *p, Py_ssize_t n) {
    if (n > 32) {
        qsort(p, (size_t)n, sizeof(Point), compare_points);
        return;
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        Point v = p[i];
        Py_ssize_t j = i;
        while (j > 0 && p[j - 1].x > v.x) {
            p[j] = p[j - 1];
            j--;
        }
        p[j] = v;
    }
}

/* The gaps at sorted positions first+1 .. first+count (1-based ranks) of points sorted by x. */
INLINE void gaps(const Point *p, Py_ssize_t count, Py_ssize_t first, double dn, double *above, double *below) {
    for (Py_ssize_t j = 0; j < count; j++) {
        Py_ssize_t i = first + j + 1;
        double up = (double)i / dn - p[j].f, down = p[j].f - (double)(i - 1) / dn;
        *above = up > *above ? up : *above;
        *below = down > *below ? down : *below;
    }
}

/* min and max of x[0 .. n) (n > 0) in lanes, and whether f holds a NaN */
CLONES
static int extremes(const double *restrict x, const double *restrict f, Py_ssize_t n, double *lo, double *hi) {
    double mn[LANES], mx[LANES];
    int64_t nan[LANES];
    for (int l = 0; l < LANES; l++) {
        mn[l] = mx[l] = x[0];
        nan[l] = 0;
    }
    Py_ssize_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            double v = x[i + l];
            mn[l] = choose(v < mn[l], v, mn[l]);
            mx[l] = choose(v > mx[l], v, mx[l]);
            nan[l] |= f[i + l] != f[i + l];
        }
    for (; i < n; i++) {
        mn[0] = x[i] < mn[0] ? x[i] : mn[0];
        mx[0] = x[i] > mx[0] ? x[i] : mx[0];
        nan[0] |= f[i] != f[i];
    }
    int any = 0;
    *lo = mn[0];
    *hi = mx[0];
    for (int l = 0; l < LANES; l++) {
        *lo = mn[l] < *lo ? mn[l] : *lo;
        *hi = mx[l] > *hi ? mx[l] : *hi;
        any |= nan[l] != 0;
    }
    return any;
}

/* ks_statistic's two maxima, max(i/n - f_i) and max(f_i - (i-1)/n), f_i = F(i-th smallest x), over
 * an unsorted sample of finite values, without sorting all of it. F is evaluated at every value
 * (lanes); the values go into buckets by the key floor((x - min) * buckets / (max - min)), which is
 * nondecreasing in x (every rounded operation with a fixed operand is monotone), so bucket b holds
 * exactly the ranks s + 1 .. e (s, e: the counts of the buckets before it, and up to it). A value
 * with f = F(x) in bucket b has a rank i in s + 1 .. e, so its gaps lie within
 *     (s + 1)/n - f  <=  i/n - f  <=  e/n - f          f - (e - 1)/n  <=  f - (i-1)/n  <=  f - s/n
 * (each a rounded expression, monotone in each operand, so the bounds hold in floating point). The
 * largest lower bound is at most the maximum; a value whose upper bound is below it cannot be the
 * maximum. Only the buckets holding some other value are sorted and evaluated (a few thousand values
 * of 65536 at most): the same maxima as the reference's, bit for bit. A NaN makes both NaN, as np.max does. */
typedef struct {
    double first, last, end, start; /* (s+1)/n, (e-1)/n, e/n, s/n of a bucket holding ranks s+1 .. e */
} Ranks;

static int ks_maxima(const double *x, Py_ssize_t n, const Cdf *c, double *above, double *below) {
    double dn = (double)n;
    Py_ssize_t nb = n / 8 > 0 ? n / 8 : 1;
    double *f = malloc((size_t)n * sizeof(double));
    int32_t *key = malloc((size_t)n * sizeof(int32_t));
    Py_ssize_t *first = calloc((size_t)nb + 1, sizeof(Py_ssize_t)); /* bucket b: ranks first[b]+1 .. first[b+1] */
    Ranks *ranks = malloc((size_t)nb * sizeof(Ranks));
    Py_ssize_t *cursor = malloc((size_t)nb * sizeof(Py_ssize_t)); /* where its next kept point goes, or -1 */
    Point *points = NULL;
    int failed = f == NULL || key == NULL || first == NULL || ranks == NULL || cursor == NULL;
    if (failed) goto done;
    cdf_values(c, x, f, n);
    double lo, hi;
    int nan = extremes(x, f, n, &lo, &hi);
    if (nan) {
        *above = *below = NAN;
        goto done;
    }
    double scale = (double)nb / (hi - lo), top = (double)(nb - 1);
    if (!(hi > lo) || !is_finite(scale)) scale = 0.0; /* one bucket: every value is a candidate */
    for (Py_ssize_t i = 0; i < n; i++) {
        double k = (x[i] - lo) * scale;
        key[i] = (int32_t)(k < top ? k : top);
        first[key[i] + 1]++;
    }
    for (Py_ssize_t b = 0; b < nb; b++) first[b + 1] += first[b];
    for (Py_ssize_t b = 0; b < nb; b++) {
        ranks[b].first = (double)(first[b] + 1) / dn;
        ranks[b].last = (double)(first[b + 1] - 1) / dn;
        ranks[b].end = (double)first[b + 1] / dn;
        ranks[b].start = (double)first[b] / dn;
    }
    double floor_above = -INFINITY, floor_below = -INFINITY;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Ranks *r = ranks + key[i];
        double la = r->first - f[i], lb = f[i] - r->last;
        floor_above = la > floor_above ? la : floor_above;
        floor_below = lb > floor_below ? lb : floor_below;
    }
    for (Py_ssize_t b = 0; b < nb; b++) cursor[b] = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Ranks *r = ranks + key[i];
        if (r->end - f[i] >= floor_above || f[i] - r->start >= floor_below) cursor[key[i]] = 0;
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t b = 0; b < nb; b++) {
        if (cursor[b] < 0) continue;
        cursor[b] = kept;
        kept += first[b + 1] - first[b];
    }
    points = malloc((size_t)(kept > 0 ? kept : 1) * sizeof(Point));
    if (points == NULL) {
        failed = 1;
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t to = cursor[key[i]];
        if (to >= 0) {
            points[to].x = x[i];
            points[to].f = f[i];
            cursor[key[i]] = to + 1;
        }
    }
    double a = -INFINITY, d = -INFINITY;
    for (Py_ssize_t b = 0; b < nb; b++) {
        if (cursor[b] < 0) continue;
        Py_ssize_t size = first[b + 1] - first[b], begin = cursor[b] - size; /* the cursor ends past the bucket */
        sort_points(points + begin, size);
        gaps(points + begin, size, first[b], dn, &a, &d);
    }
    *above = a;
    *below = d;
done:
    free(f);
    free(key);
    free(first);
    free(ranks);
    free(cursor);
    free(points);
    return failed ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* row coherence                                                                               */

/* max |tree_sum(u_i * u_j)| over i < j of the unit rows u_i = rows_i / sqrt(tree_sum(rows_i^2));
 * -1 when a row is zero. The Gram matrix is symmetric bit for bit (products commute), so one half
 * is computed; its zeroed diagonal never exceeds an off-diagonal |value|. */
CLONES
static int coherence_of(const double *rows, Py_ssize_t m, Py_ssize_t len, double *result) {
    Py_ssize_t h = len / 2, w = h + (len & 1);
    double *unit = malloc((size_t)(m * len + w + 1) * sizeof(double));
    if (unit == NULL) return -1;
    double *p = unit + m * len;
    int zero = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        const double *r = rows + i * len;
        for (Py_ssize_t k = 0; k < len; k++) unit[i * len + k] = r[k] * r[k];
        double norm = sqrt(tree_reduce(unit + i * len, len));
        zero |= norm == 0.0;
        for (Py_ssize_t k = 0; k < len; k++) unit[i * len + k] = r[k] / norm;
    }
    if (zero) {
        free(unit);
        *result = -1.0;
        return 0;
    }
    double best = 0.0;
    int nan = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        const double *restrict a = unit + i * len;
        for (Py_ssize_t j = i + 1; j < m; j++) {
            const double *restrict b = unit + j * len;
            for (Py_ssize_t k = 0; k < h; k++) p[k] = a[k] * b[k] + a[k + h] * b[k + h];
            if (len & 1) p[h] = a[len - 1] * b[len - 1];
            double g = fabs(tree_reduce(p, w));
            nan |= g != g;
            best = g > best ? g : best;
        }
    }
    free(unit);
    *result = nan ? NAN : best;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Python entry points                                                                         */

/* A C-contiguous buffer of float64 (or float32 where allowed), read-only or writable. */
static int get_buffer(PyObject *obj, Py_buffer *view, int writable, int allow_f32, int *f32, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    const char *format = view->format ? view->format : "B";
    char code = format[strlen(format) - 1];
    int little = format[0] != '>' && format[0] != '!';
    int is64 = code == 'd' && view->itemsize == 8, is32 = code == 'f' && view->itemsize == 4;
    if (!little || !(is64 || (allow_f32 && is32))) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous float64%s array, got format %s", what,
                     allow_f32 ? " or float32" : "", format);
        PyBuffer_Release(view);
        return -1;
    }
    if (f32) *f32 = is32;
    return 0;
}

static int get_int64(PyObject *obj, Py_buffer *view, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    const char *format = view->format ? view->format : "B";
    char code = format[strlen(format) - 1];
    if (view->itemsize != 8 || !(code == 'q' || code == 'l') || format[0] == '>' || format[0] == '!') {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous int64 array, got format %s", what, format);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* block(x, start, center, bounds, ks_stride, ks_out, ks_at, units)
 *   bounds: None or (low, high); ks_out: None (no KS subsample) or float64 written from ks_at;
 *   units: None or (torch, cols, norm_sq, slot, rows, length)
 * -> (s1, s2, s3, s4, min, max, nonfinite, outside, ks_taken) */
static PyObject *py_block(PyObject *self, PyObject *args) {
    PyObject *xs, *bounds, *ks_obj, *units_obj;
    long long start, ks_at;
    double center;
    Py_ssize_t ks_stride;
    if (!PyArg_ParseTuple(args, "OLdOnOLO", &xs, &start, &center, &bounds, &ks_stride, &ks_obj, &ks_at, &units_obj))
        return NULL;
    int bounded = bounds != Py_None, have_ks = ks_obj != Py_None, have_units = units_obj != Py_None;
    double low = -INFINITY, high = INFINITY; /* without bounds nothing is outside */
    if (bounded && !PyArg_ParseTuple(bounds, "dd", &low, &high)) return NULL;
    if (ks_stride < 1 || start < 0 || ks_at < 0) {
        PyErr_SetString(PyExc_ValueError, "ks_stride must be positive, start and ks_at not negative");
        return NULL;
    }
    Py_buffer xv, kv, nv, sv, rv;
    int held = 0; /* buffers acquired: 1 x, 2 ks, 4 norm_sq, 8 slot, 16 rows */
    int f32 = 0, failed = 0;
    Units u = {0};
    PyObject *result = NULL;
    double *scratch = NULL;
    if (get_buffer(xs, &xv, 0, 1, &f32, "x") < 0) goto done;
    held |= 1;
    Py_ssize_t n = xv.len / xv.itemsize;
    long long first = ((start + ks_stride - 1) / ks_stride) * ks_stride; /* the first element taken */
    Py_ssize_t taken = 0;
    if (have_ks) {
        if (get_buffer(ks_obj, &kv, 1, 0, NULL, "ks_out") < 0) goto done;
        held |= 2;
        taken = first - start < n ? (Py_ssize_t)((n - 1 - (first - start)) / ks_stride + 1) : 0;
        if (ks_at + taken > kv.len / 8) {
            PyErr_SetString(PyExc_ValueError, "ks_out is too short for this block's KS sample");
            goto done;
        }
    }
    if (have_units) {
        PyObject *norm_obj, *slot_obj, *rows_obj;
        if (!PyArg_ParseTuple(units_obj, "inOOOn", &u.torch, &u.cols, &norm_obj, &slot_obj, &rows_obj, &u.length))
            goto done;
        if (get_buffer(norm_obj, &nv, 1, 0, NULL, "norm_sq") < 0) goto done;
        held |= 4;
        if (get_int64(slot_obj, &sv, "slot") < 0) goto done;
        held |= 8;
        if (get_buffer(rows_obj, &rv, 1, 0, NULL, "rows") < 0) goto done;
        held |= 16;
        u.count = nv.len / 8;
        u.sampled = u.length > 0 ? rv.len / 8 / u.length : 0;
        u.norm_sq = nv.buf;
        u.slot = sv.buf;
        u.rows = rv.buf;
        long long total = u.torch ? (long long)u.count * u.cols : (long long)u.cols * u.length;
        int ok = u.cols > 0 && u.length > 0 && sv.len / 8 == u.count && start + n <= total &&
                 (u.torch ? u.length == u.cols : u.count == u.cols);
        for (Py_ssize_t k = 0; ok && k < u.count; k++) ok = u.slot[k] >= -1 && u.slot[k] < u.sampled;
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "units: norm_sq, slot, rows, cols and length do not fit together");
            goto done;
        }
    }
    Block b = {.min = INFINITY, .max = -INFINITY};
    scratch = malloc((size_t)(4 * (n / 2 + 1)) * sizeof(double));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS;
    if (n) block_moments(xv.buf, f32, n, center, low, high, scratch, &b);
    if (have_ks) {
        double *ks = (double *)kv.buf + ks_at;
        for (Py_ssize_t j = 0; j < taken; j++)
            ks[j] = cleaned(xv.buf, f32, (Py_ssize_t)(first - start) + j * ks_stride, center);
    }
    if (have_units) failed = units_pass(xv.buf, f32, n, start, center, &u);
    Py_END_ALLOW_THREADS;
    if (failed)
        PyErr_NoMemory();
    else
        result = Py_BuildValue("ddddddnnn", b.s[0], b.s[1], b.s[2], b.s[3], b.min, b.max, b.nonfinite, b.outside, taken);
done:
    free(scratch);
    if (held & 16) PyBuffer_Release(&rv);
    if (held & 8) PyBuffer_Release(&sv);
    if (held & 4) PyBuffer_Release(&nv);
    if (held & 2) PyBuffer_Release(&kv);
    if (held & 1) PyBuffer_Release(&xv);
    return result;
}

static int parse_cdf(int kind, PyObject *params, Cdf *c) {
    if (kind < 0 || kind > 2) {
        PyErr_SetString(PyExc_ValueError, "unknown CDF kind");
        return -1;
    }
    c->kind = kind;
    PyObject *seq = PySequence_Fast(params, "params must be a sequence of floats");
    if (seq == NULL) return -1;
    Py_ssize_t want = kind == CDF_TRUNCATED ? 5 : 2, got = PySequence_Fast_GET_SIZE(seq);
    if (got != want) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "CDF kind %d takes %zd parameters, got %zd", kind, want, got);
        return -1;
    }
    for (Py_ssize_t i = 0; i < got; i++) c->a[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
    Py_DECREF(seq);
    return PyErr_Occurred() ? -1 : 0;
}

/* ks(x, kind, params) -> (above, below): ks_statistic's two maxima over the float64 sample x (any
 * order, finite values; x is not modified) */
static PyObject *py_ks(PyObject *self, PyObject *args) {
    PyObject *xs, *params;
    int kind;
    if (!PyArg_ParseTuple(args, "OiO", &xs, &kind, &params)) return NULL;
    Cdf c;
    if (parse_cdf(kind, params, &c) < 0) return NULL;
    Py_buffer xv;
    if (get_buffer(xs, &xv, 0, 0, NULL, "x") < 0) return NULL;
    Py_ssize_t n = xv.len / 8;
    double above = NAN, below = NAN;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS;
    if (n) failed = ks_maxima(xv.buf, n, &c, &above, &below);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&xv);
    if (failed) return PyErr_NoMemory();
    return Py_BuildValue("dd", above, below);
}

/* cdf(kind, params, x, out) */
static PyObject *py_cdf(PyObject *self, PyObject *args) {
    PyObject *xs, *params, *outs;
    int kind;
    if (!PyArg_ParseTuple(args, "iOOO", &kind, &params, &xs, &outs)) return NULL;
    Cdf c;
    if (parse_cdf(kind, params, &c) < 0) return NULL;
    Py_buffer xv, ov;
    if (get_buffer(xs, &xv, 0, 0, NULL, "x") < 0) return NULL;
    if (get_buffer(outs, &ov, 1, 0, NULL, "out") < 0) {
        PyBuffer_Release(&xv);
        return NULL;
    }
    Py_ssize_t n = xv.len / 8;
    if (ov.len < xv.len) {
        PyBuffer_Release(&ov);
        PyBuffer_Release(&xv);
        PyErr_SetString(PyExc_ValueError, "out is shorter than x");
        return NULL;
    }
    const double *x = xv.buf;
    double *o = ov.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t i = 0; i < n; i++) o[i] = cdf_at(&c, x[i]);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&ov);
    PyBuffer_Release(&xv);
    Py_RETURN_NONE;
}

/* coherence(rows, m, length) -> float, or None when a sampled row is zero */
static PyObject *py_coherence(PyObject *self, PyObject *args) {
    PyObject *rs;
    Py_ssize_t m, len;
    if (!PyArg_ParseTuple(args, "Onn", &rs, &m, &len)) return NULL;
    Py_buffer rv;
    if (get_buffer(rs, &rv, 0, 0, NULL, "rows") < 0) return NULL;
    if (m < 0 || len < 1 || rv.len / 8 != m * len) {
        PyBuffer_Release(&rv);
        PyErr_SetString(PyExc_ValueError, "rows must hold m x length float64 values");
        return NULL;
    }
    double result = 0.0;
    int failed;
    Py_BEGIN_ALLOW_THREADS;
    failed = coherence_of(rv.buf, m, len, &result);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&rv);
    if (failed) return PyErr_NoMemory();
    if (result < 0.0) Py_RETURN_NONE;
    return PyFloat_FromDouble(result);
}

/* tree_sum(x) -> float: pinned.tree_sum of a float64 vector */
static PyObject *py_tree_sum(PyObject *self, PyObject *args) {
    PyObject *xs;
    if (!PyArg_ParseTuple(args, "O", &xs)) return NULL;
    Py_buffer xv;
    if (get_buffer(xs, &xv, 0, 0, NULL, "x") < 0) return NULL;
    Py_ssize_t n = xv.len / 8;
    double *copy = malloc((size_t)(n ? n : 1) * sizeof(double));
    if (copy == NULL) {
        PyBuffer_Release(&xv);
        return PyErr_NoMemory();
    }
    memcpy(copy, xv.buf, (size_t)n * sizeof(double));
    PyBuffer_Release(&xv);
    double total = tree_reduce(copy, n);
    free(copy);
    return PyFloat_FromDouble(total);
}

static PyMethodDef METHODS[] = {
    {"block", py_block, METH_VARARGS, "block(x, start, center, bounds, ks_stride, ks_out, ks_at, units)"},
    {"ks", py_ks, METH_VARARGS, "ks(sample, kind, params) -> (max(i/n - F), max(F - (i-1)/n))"},
    {"cdf", py_cdf, METH_VARARGS, "cdf(kind, params, x, out): the theory's CDF"},
    {"coherence", py_coherence, METH_VARARGS, "coherence(rows, m, length) -> max |cos| or None"},
    {"tree_sum", py_tree_sum, METH_VARARGS, "tree_sum(x) -> the pinned tree sum"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_diagnose", "initw-v1 compiled header diagnostics", -1,
                                    METHODS};

PyMODINIT_FUNC PyInit__diagnose(void) { return PyModule_Create(&MODULE); }
