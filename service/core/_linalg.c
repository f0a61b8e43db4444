/* initw-v1 pinned reductions, products and Householder QR, compiled: the numpy reference's bytes.
 *
 * docs/ALGORITHM.md section 12 fixes every floating-point operation: the tree_sum order (12.1),
 * the unblocked Householder QR with backward accumulation (12.2) and the products (12.3). This
 * file performs exactly those operations, each one IEEE-754 binary64 rounded to nearest-even
 * (built with -ffp-contract=off: no fused multiply-add; no -ffast-math), and only changes *when*
 * each one happens, never its operands:
 *
 * - tree_sum. A level adds x[i] + x[i + h] (h = n div 2) and carries an odd last element. Three
 *   levels are folded in one pass: output i of the pass is, for most i, the fixed tree of eight
 *   inputs i + {0, h1} + {0, h2} + {0, h3} (h1, h2, h3 the three levels' halves), in registers;
 *   the few outputs that involve a carried element (a suffix of the outputs) are evaluated by the
 *   level recursion itself. A pass reads its input once and writes an eighth of it.
 * - Lanes. Sums that are independent (the columns of a matrix reduced over its rows, the entries
 *   of a product) are computed side by side, LANES at a time, one SIMD lane each: lane-wise IEEE
 *   operations round exactly as scalar ones. A 1-D sum is vectorised along its own elements
 *   instead (the pass's outputs i .. i+7 side by side).
 * - Householder QR. Each column of A (and of Q) evolves independently given the reflectors: for
 *   column j the reflectors k < j (k <= j for Q), in the spec's order, each w_j = tree over i of
 *   v_i * A[k+i, j] then A[k+i, j] -= (beta v_i) * w_j. So the columns are packed into blocks of
 *   LANES columns, reflectors are formed PANEL at a time, and each block then takes the panel's
 *   reflectors in order while it sits in cache; blocks are split between threads. Which thread
 *   computes a column, and when, changes no operation of it.
 *
 * Every entry point releases the GIL; arguments are C-contiguous float64 buffers. Functions whose
 * loops carry the arithmetic are compiled once per instruction set (target_clones) and chosen at
 * run time; tests/core/test_pinned.py and test_householder.py hold them to the numpy reference.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#define INITW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define INITW_CLONES
#endif

#define INLINE static inline __attribute__((always_inline)) /* inlined into each clone, so vectorised there */

/* LANES independent sums side by side, as LANES / 4 vectors of four doubles (one 256-bit register
 * each on AVX2 and AVX-512, two 128-bit ones on the baseline). */
#ifndef LANES
#define LANES 8
#endif
#define QUADS (LANES / 4)
typedef double quad __attribute__((vector_size(4 * sizeof(double))));
typedef double quad_u __attribute__((vector_size(4 * sizeof(double)), aligned(8), may_alias));
#define LOAD(p) ((quad)(*(const quad_u *)(p)))
#define STORE(p, x) (*(quad_u *)(p) = (x))

#ifndef NO_SPLIT
#define NO_SPLIT 0
#endif
#ifndef PANEL
#define PANEL 32
#endif
#ifndef MM_BUDGET
#define MM_BUDGET (1 << 14)
#endif
#define PANEL_ 32       /* reflectors formed, then applied to the trailing blocks, at a time */
#define MAX_LEVELS 70  /* levels of a tree of up to 2^63 elements, and room */
#define PARALLEL_MIN (1 << 17) /* multiply-adds below which a second thread costs more than it saves */

/* ------------------------------------------------------------------------------------------ */
/* the tree's shape                                                                            */

/* len[t]: the number of elements after t levels (len[0] = n, len[t+1] = len[t] - len[t] div 2);
 * levels: t where len[t] = 1. */
typedef struct {
    int levels;
    ptrdiff_t len[MAX_LEVELS];
} Plan;

static void plan_of(Plan *p, ptrdiff_t n) {
    int t = 0;
    p->len[0] = n;
    while (p->len[t] > 1) {
        p->len[t + 1] = p->len[t] - p->len[t] / 2;
        t++;
    }
    p->levels = t;
}

/* One pass folds `depth` (1 to 3) levels, from level t0. Output i < regular is the full tree of
 * the 2^depth inputs i + {0, h[0]} + {0, h[1]} + {0, h[2]}; outputs regular .. count-1 contain a
 * carried element. */
typedef struct {
    int depth;
    ptrdiff_t h[3], count, regular;
    ptrdiff_t len[4]; /* the lengths before and after each level of the pass */
} Pass;

static void pass_of(const Plan *p, int t0, Pass *s) {
    int depth = p->levels - t0 < 3 ? p->levels - t0 : 3;
    ptrdiff_t regular = p->len[t0];
    s->depth = depth;
    s->len[0] = p->len[t0];
    s->h[0] = s->h[1] = s->h[2] = 0;
    for (int d = 0; d < depth; d++) {
        ptrdiff_t h = p->len[t0 + d] / 2;
        s->h[d] = h;
        s->len[d + 1] = p->len[t0 + d + 1];
        /* position i < h of this level is regular iff i and i + h were: i + h < regular */
        regular = regular - h < 0 ? 0 : regular - h;
        regular = regular > h ? h : regular;
    }
    s->count = p->len[t0 + depth];
    s->regular = regular;
}

/* ------------------------------------------------------------------------------------------ */
/* lanes: independent sums side by side                                                        */

/* A tree's elements are rows of 4 * quads lanes, each lane its own sum. Where element i of the
 * first pass comes from (the mode is a constant at every call, so each mode compiles to its own
 * loops):
 *   PLAIN    the row in + i * stride
 *   PRODUCT  v[i] times that row
 *   UPDATE   v[i] times that row after the pending reflector's update: when i >= from the row
 *            first becomes row - scaled[i - from] * w, and is stored (each row is an element of
 *            exactly one output, so it is updated exactly once). One pass over the rows both
 *            finishes one reflector and starts the next. Rows of LANES lanes only. */
enum { PLAIN, PRODUCT, UPDATE, UPDATE_ALL /* UPDATE where every element's index is >= from */ };
typedef struct {
    double *in; /* written in UPDATE mode only */
    ptrdiff_t stride;
    const double *v, *scaled;
    ptrdiff_t from;
    quad w[QUADS];
} Leaves;

/* Lanes 4q .. 4q+3 of element i (a vector returned from a function that is always inlined: no
 * call, so no calling convention, whatever the instruction set). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
INLINE quad leaf(const Leaves *x, int mode, ptrdiff_t i, int q) {
    double *row = x->in + i * x->stride + 4 * q;
    quad value = LOAD(row);
    if (mode == PLAIN) return value;
    if (mode == UPDATE_ALL || (mode == UPDATE && i >= x->from)) {
        value = value - x->scaled[i - x->from] * x->w[q];
        STORE(row, value);
    }
    return x->v[i] * value;
}

/* Output i of a pass (any i < count), lanes 4q .. 4q+3, by the level recursion: value(d, i) after
 * d levels is value(d-1, i) + value(d-1, i + h) for i < h, else the carried value(d-1, len - 1). */
INLINE quad carried_0(const Leaves *x, int mode, const Pass *s, ptrdiff_t i, int q) { return leaf(x, mode, i, q); }

#define CARRIED(name, below, d)                                                                                        \
    INLINE quad name(const Leaves *x, int mode, const Pass *s, ptrdiff_t i, int q) {                                   \
        if (i >= s->h[d - 1]) return below(x, mode, s, s->len[d - 1] - 1, q); /* the odd last element */              \
        quad left = below(x, mode, s, i, q);                                                                           \
        return left + below(x, mode, s, i + s->h[d - 1], q);                                                           \
    }
CARRIED(carried_1, carried_0, 1)
CARRIED(carried_2, carried_1, 2)
CARRIED(carried_3, carried_2, 3)

/* Regular outputs i0 .. s->regular-1 of a pass that folds D levels: output i is the fixed tree of
 * the 2^D elements i + off[j]. Its rows, multipliers and update coefficients are looked up once,
 * then the lanes are swept four at a time. Output rows are 4 * quads doubles, contiguous. */
INLINE void pass_regular_d(const Leaves *x, int mode, const int D, const Pass *s, ptrdiff_t i0, int quads,
                           double *restrict out) {
    const ptrdiff_t h1 = s->h[0], h2 = s->h[1], h3 = s->h[2], stride = x->stride, width = 4 * quads;
    const ptrdiff_t off[8] = {0, h1, h2, h2 + h1, h3, h3 + h1, h3 + h2, h3 + h2 + h1};
    const int n = 1 << D;
    for (ptrdiff_t i = i0; i < s->regular; i++) {
        double *row[8];
        double mul[8], coef[8];
        for (int j = 0; j < n; j++) {
            row[j] = x->in + (i + off[j]) * stride;
            if (mode != PLAIN) mul[j] = x->v[i + off[j]];
            if (mode == UPDATE || mode == UPDATE_ALL) coef[j] = x->scaled[i + off[j] - x->from];
        }
        for (int q = 0; q < quads; q++) {
            quad e[8];
            for (int j = 0; j < n; j++) {
                e[j] = LOAD(row[j] + 4 * q);
                if (mode == UPDATE_ALL || (mode == UPDATE && i + off[j] >= x->from)) {
                    e[j] = e[j] - coef[j] * x->w[q];
                    STORE(row[j] + 4 * q, e[j]);
                }
                if (mode != PLAIN) e[j] = mul[j] * e[j];
            }
            quad sum = D == 3   ? ((e[0] + e[1]) + (e[2] + e[3])) + ((e[4] + e[5]) + (e[6] + e[7]))
                       : D == 2 ? (e[0] + e[1]) + (e[2] + e[3])
                                : e[0] + e[1];
            STORE(out + i * width + 4 * q, sum);
        }
    }
}

INLINE void pass_regular(const Leaves *x, int mode, const Pass *s, ptrdiff_t i0, int quads, double *restrict out) {
    if (s->depth == 3)
        pass_regular_d(x, mode, 3, s, i0, quads, out);
    else if (s->depth == 2)
        pass_regular_d(x, mode, 2, s, i0, quads, out);
    else
        pass_regular_d(x, mode, 1, s, i0, quads, out);
}

/* One pass: out[i * 4 * quads + c] for i < s->count, c < 4 * quads (out apart from x's rows). */
INLINE void pass_lanes(const Leaves *x, int mode, const Pass *s, int quads, double *restrict out) {
    if (mode == UPDATE) { /* outputs i >= from have every element at or after from: no test there */
        ptrdiff_t split = x->from < 0 ? 0 : x->from < s->regular ? x->from : s->regular;
        Pass head = *s;
        head.regular = split;
        pass_regular(x, UPDATE, &head, 0, quads, out);
        pass_regular(x, UPDATE_ALL, s, split, quads, out);
    } else {
        pass_regular(x, mode, s, 0, quads, out);
    }
    for (ptrdiff_t i = s->regular; i < s->count; i++)
        for (int q = 0; q < quads; q++) {
            quad value = s->depth == 3   ? carried_3(x, mode, s, i, q)
                         : s->depth == 2 ? carried_2(x, mode, s, i, q)
                                         : carried_1(x, mode, s, i, q);
            STORE(out + i * 4 * quads + 4 * q, value);
        }
}

/* Doubles of scratch a tree of n rows of `width` lanes needs (two buffers). */
#define TREE_SCRATCH(n, width) (2 * ((size_t)(n) / 8 + 2) * (size_t)(width))

/* sum[c] = tree over i < n of element i's lane c, for c < 4 * quads; n >= 1. scratch:
 * TREE_SCRATCH(n, 4 * quads) doubles. The first pass reads the elements, the others the scratch. */
INLINE void tree_lanes(const Leaves *x, int mode, ptrdiff_t n, int quads, double *scratch, double *sum) {
    Plan p;
    Pass s;
    plan_of(&p, n);
    if (p.levels == 0) {
        for (int q = 0; q < quads; q++) STORE(sum + 4 * q, leaf(x, mode, 0, q));
        return;
    }
    double *buf[2] = {scratch, scratch + (n / 8 + 2) * 4 * quads};
    int t = 0, which = 0;
    pass_of(&p, t, &s);
    pass_lanes(x, mode, &s, quads, buf[which]);
    for (t += s.depth; t < p.levels; t += s.depth, which ^= 1) {
        pass_of(&p, t, &s);
        Leaves partial = {.in = buf[which], .stride = 4 * quads};
        pass_lanes(&partial, PLAIN, &s, quads, buf[which ^ 1]);
    }
    memcpy(sum, buf[which], (size_t)quads * 4 * sizeof(double));
}
#pragma GCC diagnostic pop

/* ------------------------------------------------------------------------------------------ */
/* one sum: vectorised along its own elements                                                  */

#define leaf1(x, y, i) ((y) ? (x)[i] * (y)[i] : (x)[i])
#define leaf1_quad(x, y, i) ((y) ? LOAD((x) + (i)) * LOAD((y) + (i)) : LOAD((x) + (i)))

__attribute__((noinline)) static double carried1(const double *x, const double *y, const Pass *s, int d, ptrdiff_t i) {
    if (d == 0) return y ? x[i] * y[i] : x[i];
    ptrdiff_t h = s->h[d - 1];
    if (i < h) {
        double left = carried1(x, y, s, d - 1, i);
        return left + carried1(x, y, s, d - 1, i + h);
    }
    return carried1(x, y, s, d - 1, s->len[d - 1] - 1);
}

#define TREE8(L, i)                                                                                                    \
    (((L(x, y, i) + L(x, y, i + h1)) + (L(x, y, i + h2) + L(x, y, i + h2 + h1))) +                                     \
     ((L(x, y, i + h3) + L(x, y, i + h3 + h1)) + (L(x, y, i + h3 + h2) + L(x, y, i + h3 + h2 + h1))))
#define TREE4(L, i) ((L(x, y, i) + L(x, y, i + h1)) + (L(x, y, i + h2) + L(x, y, i + h2 + h1)))
#define TREE2(L, i) (L(x, y, i) + L(x, y, i + h1))

INLINE void pass1(const double *x, const double *y, const Pass *s, double *out) {
    const ptrdiff_t h1 = s->h[0], h2 = s->h[1], h3 = s->h[2], regular = s->regular;
    ptrdiff_t i = 0;
    if (s->depth == 3) {
        for (; i + 4 <= regular; i += 4) STORE(out + i, TREE8(leaf1_quad, i));
        for (; i < regular; i++) out[i] = TREE8(leaf1, i);
    } else if (s->depth == 2) {
        for (; i + 4 <= regular; i += 4) STORE(out + i, TREE4(leaf1_quad, i));
        for (; i < regular; i++) out[i] = TREE4(leaf1, i);
    } else {
        for (; i + 4 <= regular; i += 4) STORE(out + i, TREE2(leaf1_quad, i));
        for (; i < regular; i++) out[i] = TREE2(leaf1, i);
    }
    for (i = regular; i < s->count; i++) out[i] = carried1(x, y, s, s->depth, i);
}

/* tree over i < n of x[i] * y[i] (of x[i] without y); n >= 1. scratch: 64-byte aligned,
 * 2 * (n / 8 + 2 + LANES) doubles. */
INLINE double tree1(const double *x, const double *y, ptrdiff_t n, double *scratch) {
    Plan p;
    Pass s;
    plan_of(&p, n);
    if (p.levels == 0) return leaf1(x, y, 0);
    double *buf[2] = {scratch, scratch + (n / 8 + 2 + LANES - 1) / LANES * LANES}; /* both aligned */
    int t = 0, which = 0;
    pass_of(&p, t, &s);
    if (y)
        pass1(x, y, &s, buf[which]);
    else
        pass1(x, NULL, &s, buf[which]);
    for (t += s.depth; t < p.levels; t += s.depth, which ^= 1) {
        pass_of(&p, t, &s);
        pass1(buf[which], NULL, &s, buf[which ^ 1]);
    }
    return buf[which][0];
}

/* ------------------------------------------------------------------------------------------ */
/* threads                                                                                     */

/* fn(ctx, part, parts) for part < parts, part 0 on the calling thread. The split decides only
 * which thread computes which independent sums or columns, never an operation. */
typedef struct {
    void (*fn)(void *, int, int);
    void *ctx;
    int part, parts;
} Task;

static void *run_task(void *arg) {
    Task *t = (Task *)arg;
    t->fn(t->ctx, t->part, t->parts);
    return NULL;
}

static void run_parts(void (*fn)(void *, int, int), void *ctx, int parts) {
    enum { MAX_THREADS = 256 };
    if (parts > MAX_THREADS) parts = MAX_THREADS;
    if (parts <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_t ids[MAX_THREADS];
    Task tasks[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int p = 1; p < parts; p++) {
        tasks[p] = (Task){fn, ctx, p, parts};
        started[p] = pthread_create(&ids[p], NULL, run_task, &tasks[p]) == 0;
    }
    fn(ctx, 0, parts);
    for (int p = 1; p < parts; p++) {
        if (started[p])
            pthread_join(ids[p], NULL);
        else
            fn(ctx, p, parts); /* no thread: this one does that part too */
    }
}

/* [lo, hi) of part `part` of `parts` equal shares of count. */
static void share(ptrdiff_t count, int part, int parts, ptrdiff_t *lo, ptrdiff_t *hi) {
    *lo = count * part / parts;
    *hi = count * (part + 1) / parts;
}

static void *alloc(size_t doubles) {
    size_t bytes = (doubles * sizeof(double) + 63) / 64 * 64;
    return aligned_alloc(64, bytes ? bytes : 64);
}

/* ------------------------------------------------------------------------------------------ */
/* many sums side by side: tree_sum across rows, and matmul                                    */

/* The post columns of an (n x post) operand, cut into units of columns summed side by side: full
 * chunks of `chunk` columns (the last one shorter, all multiples of four), then the last post % 4
 * columns. A chunk is as wide as keeps one tree's scratch (or, for a product, the operand's chunk,
 * read again for every row) within about `budget` doubles. */
typedef struct {
    ptrdiff_t post, full, chunk, units;
} Columns;

static void columns_of(Columns *c, ptrdiff_t post, ptrdiff_t rows, ptrdiff_t budget, ptrdiff_t widest) {
    ptrdiff_t chunk = budget / (rows > 1 ? rows : 1) / 4 * 4;
    c->post = post;
    c->full = post / 4 * 4;
    c->chunk = chunk < 16 ? 16 : chunk > widest ? widest : chunk;
    c->units = (c->full + c->chunk - 1) / c->chunk + (post % 4 != 0);
}

static void column_unit(const Columns *c, ptrdiff_t u, ptrdiff_t *c0, ptrdiff_t *width) {
    *c0 = u * c->chunk;
    if (*c0 >= c->full) {
        *c0 = c->full;
        *width = c->post - c->full;
    } else {
        *width = c->full - *c0 < c->chunk ? c->full - *c0 : c->chunk;
    }
}

/* out[c] = tree over i < n of in[i * stride + c0 + c], c < width: the lanes are the columns;
 * fewer than four are copied into rows of four lanes first (the others sum zeros). */
INITW_CLONES
static void sum_columns(const double *in, ptrdiff_t stride, ptrdiff_t n, ptrdiff_t c0, ptrdiff_t width, double *out,
                        double *pad, double *scratch) {
    Leaves x = {.in = (double *)in + c0, .stride = stride};
    if (width % 4 == 0) {
        tree_lanes(&x, PLAIN, n, (int)(width / 4), scratch, out + c0);
        return;
    }
    double sum[4];
    for (ptrdiff_t i = 0; i < n; i++)
        for (int c = 0; c < 4; c++) pad[i * 4 + c] = c < width ? in[i * stride + c0 + c] : 0.0;
    x.in = pad;
    x.stride = 4;
    tree_lanes(&x, PLAIN, n, 1, scratch, sum);
    memcpy(out + c0, sum, (size_t)width * sizeof(double));
}

/* For rows r in [r0, r1): out[r * out_stride + c] = tree over t < k of a[r * k + t] * b[t * lanes + c],
 * for c < width (lanes: a multiple of four, >= width). */
INITW_CLONES
static void matmul_rows(const double *b, ptrdiff_t lanes, ptrdiff_t k, const double *a, ptrdiff_t r0, ptrdiff_t r1,
                        double *out, ptrdiff_t out_stride, ptrdiff_t width, double *scratch) {
    for (ptrdiff_t r = r0; r < r1; r++) {
        double *o = out + r * out_stride, sum[4];
        Leaves x = {.in = (double *)b, .stride = lanes, .v = a + r * k};
        tree_lanes(&x, PRODUCT, k, (int)(lanes / 4), scratch, width == lanes ? o : sum);
        if (width != lanes) memcpy(o, sum, (size_t)width * sizeof(double));
    }
}

/* tree_sum along an axis: in (pre, n, post) C order, out (pre, post). Along a contiguous axis
 * (post = 1) each sum is vectorised along itself; otherwise the post sums are side by side. */
typedef struct {
    const double *in;
    double *out;
    ptrdiff_t pre, n, post;
    Columns columns;
    int failed;
} TreeJob;

INITW_CLONES
static void tree_sums_1(const double *in, ptrdiff_t n, ptrdiff_t first, ptrdiff_t last, double *scratch, double *out) {
    for (ptrdiff_t r = first; r < last; r++) out[r] = tree1(in + r * n, NULL, n, scratch);
}

static void tree_part(void *ctx, int part, int parts) {
    TreeJob *job = (TreeJob *)ctx;
    ptrdiff_t n = job->n, lo, hi;
    if (job->post == 1) {
        double *scratch = alloc(2 * (size_t)(n / 8 + 2 + LANES));
        if (!scratch) {
            job->failed = 1;
            return;
        }
        share(job->pre, part, parts, &lo, &hi);
        tree_sums_1(job->in, n, lo, hi, scratch, job->out);
        free(scratch);
        return;
    }
    const Columns *cols = &job->columns;
    double *scratch = alloc(TREE_SCRATCH(n, cols->chunk)), *pad = alloc((size_t)n * 4);
    if (scratch && pad) {
        share(job->pre * cols->units, part, parts, &lo, &hi);
        for (ptrdiff_t u = lo; u < hi; u++) {
            ptrdiff_t p = u / cols->units, c0, width;
            column_unit(cols, u % cols->units, &c0, &width);
            sum_columns(job->in + p * n * job->post, job->post, n, c0, width, job->out + p * job->post, pad, scratch);
        }
    } else {
        job->failed = 1;
    }
    free(scratch);
    free(pad);
}

/* matmul: out (m x n) = a (m x k) times b (k x n), entry (i, j) the tree over t of
 * a[i, t] * b[t, j]: row i's entries side by side. A chunk of b's columns is copied into
 * contiguous rows (from b, or from its transpose), then read for every row of a while it is in
 * cache; a chunk of fewer than four columns is padded with zeros. */
typedef struct {
    const double *a, *b;
    double *out;
    ptrdiff_t m, k, n;
    int transposed, failed;
    Columns columns;
} MatmulJob;

static void matmul_part(void *ctx, int part, int parts) {
    MatmulJob *job = (MatmulJob *)ctx;
    const Columns *cols = &job->columns;
    ptrdiff_t k = job->k, n = job->n;
    double *scratch = alloc(TREE_SCRATCH(k, cols->chunk)), *packed = alloc((size_t)(k * cols->chunk));
    if (!scratch || !packed) {
        job->failed = 1;
    } else {
        ptrdiff_t u0 = 0, u1 = cols->units, r0 = 0, r1 = job->m; /* columns between threads, or else rows */
        if (cols->units >= parts)
            share(cols->units, part, parts, &u0, &u1);
        else
            share(job->m, part, parts, &r0, &r1);
        for (ptrdiff_t u = u0; u < u1; u++) {
            ptrdiff_t c0, width;
            column_unit(cols, u, &c0, &width);
            ptrdiff_t lanes = width < 4 ? 4 : width;
            for (ptrdiff_t t = 0; t < k; t++)
                for (ptrdiff_t c = 0; c < lanes; c++)
                    packed[t * lanes + c] = c >= width       ? 0.0
                                            : job->transposed ? job->b[(c0 + c) * k + t]
                                                              : job->b[t * n + c0 + c];
            matmul_rows(packed, lanes, k, job->a, r0, r1, job->out + c0, n, width, scratch);
        }
    }
    free(scratch);
    free(packed);
}

/* ------------------------------------------------------------------------------------------ */
/* Householder QR (docs/ALGORITHM.md 12.2)                                                     */

/* The columns of A (and then of Q), m rows each, packed into blocks of LANES columns: block b
 * holds columns b*LANES .. b*LANES+LANES-1 as m rows of LANES contiguous doubles. Columns beyond
 * n are zeros that nothing reads. Reflector k: v (m - k values), scaled = beta * v, from offset
 * voff[k] of the two arrays. */
typedef struct {
    ptrdiff_t m, n, blocks;
    double *a;              /* blocks * m * LANES */
    double *v, *scaled;     /* sum over k of (m - k) */
    ptrdiff_t *voff;        /* n */
    double *beta, *alpha;   /* n each */
    int parts, failed;
    ptrdiff_t k0, k1;       /* the current panel of reflectors */
    int backward;           /* 0: factor A; 1: accumulate Q */
} QR;

/* count rows (LANES doubles each, from rows) become row_i - scaled_i * w, in the lanes c >= first
 * (the columns the spec updates). */
INLINE void update_rows(double *restrict rows, ptrdiff_t count, const double *restrict scaled, const double *w,
                        int first) {
    if (first <= 0) {
        quad wq[QUADS];
        for (int q = 0; q < QUADS; q++) wq[q] = LOAD(w + 4 * q);
        for (ptrdiff_t i = 0; i < count; i++)
            for (int q = 0; q < QUADS; q++)
                STORE(rows + i * LANES + 4 * q, LOAD(rows + i * LANES + 4 * q) - scaled[i] * wq[q]);
    } else {
        for (ptrdiff_t i = 0; i < count; i++)
            for (int c = first; c < LANES; c++) rows[i * LANES + c] = rows[i * LANES + c] - scaled[i] * w[c];
    }
}

/* Reflectors k0 .. k1-1 (ascending, or descending when backward) applied to blocks b0 .. b1-1,
 * each block taking them all while it is in cache. Reflector k updates the columns j > k of the
 * factorization, j >= k of the accumulation, rows k .. m-1: w = tree over i of v_i * row_(k+i),
 * then row_(k+i) -= scaled_i * w. A reflector's update is made in the same pass over the rows as
 * the next reflector's products (each row updated, stored, then multiplied), except where a
 * reflector updates only some of the block's columns. */
INITW_CLONES
static void reflect_blocks(const QR *qr, ptrdiff_t b0, ptrdiff_t b1, ptrdiff_t k0, ptrdiff_t k1, int backward,
                           double *scratch) {
    ptrdiff_t m = qr->m;
    for (ptrdiff_t b = b0; b < b1; b++) {
        double *block = qr->a + b * m * LANES;
        ptrdiff_t last = b * LANES + LANES - 1; /* the block's last column */
        ptrdiff_t pending = -1;                 /* the reflector whose update is still to be made */
        double w[LANES], pending_w[LANES] = {0};
        for (ptrdiff_t r = 0; r < k1 - k0; r++) {
            ptrdiff_t k = backward ? k1 - 1 - r : k0 + r;
            ptrdiff_t from = backward ? k : k + 1; /* the first column reflector k updates */
            if (qr->beta[k] == 0.0 || last < from) continue;
            ptrdiff_t first = from - b * LANES;
            Leaves x = {.in = block + k * LANES, .stride = LANES, .v = qr->v + qr->voff[k]};
            const double *scaled = qr->scaled + qr->voff[k];
            if (pending >= 0 && first <= 0) {
                const double *pending_scaled = qr->scaled + qr->voff[pending];
                if (pending < k) /* rows pending .. k-1 are not in reflector k's sum */
                    update_rows(block + pending * LANES, k - pending, pending_scaled, pending_w, 0);
                x.scaled = pending_scaled;
                x.from = pending - k;
                for (int q = 0; q < QUADS; q++) x.w[q] = LOAD(pending_w + 4 * q);
                tree_lanes(&x, UPDATE, m - k, QUADS, scratch, w);
            } else {
                if (pending >= 0)
                    update_rows(block + pending * LANES, m - pending, qr->scaled + qr->voff[pending], pending_w, 0);
                tree_lanes(&x, PRODUCT, m - k, QUADS, scratch, w);
            }
            pending = -1;
            if (first > 0) {
                update_rows(block + k * LANES, m - k, scaled, w, (int)first);
            } else {
                pending = k;
                memcpy(pending_w, w, sizeof w);
            }
        }
        if (pending >= 0)
            update_rows(block + pending * LANES, m - pending, qr->scaled + qr->voff[pending], pending_w, 0);
    }
}

/* Reflector k from column k (rows k..m-1), whose earlier reflectors are all applied. */
INITW_CLONES
static void form_reflector(QR *qr, ptrdiff_t k, double *scratch) {
    ptrdiff_t m = qr->m, count = m - k;
    const double *column = qr->a + (k / LANES) * m * LANES + k % LANES;
    double *v = qr->v + qr->voff[k], *scaled = qr->scaled + qr->voff[k];
    for (ptrdiff_t i = 0; i < count; i++) v[i] = column[(k + i) * LANES];
    double x0 = v[0];
    double norm = sqrt(tree1(v, v, count, scratch));
    double alpha = x0 >= 0.0 ? -norm : norm;
    v[0] = x0 - alpha;
    double vv = tree1(v, v, count, scratch);
    double beta = vv > 0.0 ? 2.0 / vv : 0.0;
    for (ptrdiff_t i = 0; i < count; i++) scaled[i] = beta * v[i];
    qr->alpha[k] = alpha;
    qr->beta[k] = beta;
}

static void qr_part(void *ctx, int part, int parts) {
    QR *qr = (QR *)ctx;
    double *scratch = alloc(2 * (size_t)(qr->m / 8 + 2) * LANES);
    if (!scratch) {
        qr->failed = 1;
        return;
    }
    /* the blocks after the panel's (factorization), or from the panel's first (accumulation) */
    ptrdiff_t first = qr->backward ? qr->k0 / LANES : (qr->k1 + LANES - 1) / LANES, lo, hi;
    share(qr->blocks - first, part, parts, &lo, &hi);
    reflect_blocks(qr, first + lo, first + hi, qr->k0, qr->k1, qr->backward, scratch);
    free(scratch);
}

/* Q (m x n, row-major, into out) of z (m x n, m >= n, row-major). 0, or -1 when out of memory. */
static int haar(const double *z, ptrdiff_t m, ptrdiff_t n, int threads, double *out) {
    QR qr = {.m = m, .n = n, .blocks = (n + LANES - 1) / LANES};
    ptrdiff_t reflected = 0;
    for (ptrdiff_t k = 0; k < n; k++) reflected += m - k;
    qr.a = alloc((size_t)(qr.blocks * m * LANES));
    qr.v = alloc((size_t)reflected);
    qr.scaled = alloc((size_t)reflected);
    qr.voff = malloc((size_t)(n ? n : 1) * sizeof(ptrdiff_t));
    qr.beta = alloc((size_t)n);
    qr.alpha = alloc((size_t)n);
    double *scratch = alloc(2 * (size_t)(m / 8 + 2) * LANES);
    int status = -1;
    if (!qr.a || !qr.v || !qr.scaled || !qr.voff || !qr.beta || !qr.alpha || !scratch) goto done;
    for (ptrdiff_t k = 0, at = 0; k < n; k++) {
        qr.voff[k] = at;
        at += m - k;
    }
    for (ptrdiff_t b = 0; b < qr.blocks; b++)
        for (ptrdiff_t i = 0; i < m; i++)
            for (int c = 0; c < LANES; c++) {
                ptrdiff_t j = b * LANES + c;
                qr.a[(b * m + i) * LANES + c] = j < n ? z[i * n + j] : 0.0;
            }
    /* factorization: a panel's reflectors one by one on the panel's own blocks, then on every
     * later block, split between threads */
    for (ptrdiff_t k0 = 0; k0 < n; k0 += PANEL) {
        ptrdiff_t k1 = k0 + PANEL < n ? k0 + PANEL : n;
        ptrdiff_t panel_end = (k1 + LANES - 1) / LANES; /* the blocks holding the panel's columns */
        for (ptrdiff_t k = k0; k < k1; k++) {
            form_reflector(&qr, k, scratch);
            reflect_blocks(&qr, k / LANES, panel_end, k, k + 1, 0, scratch);
        }
        ptrdiff_t later = qr.blocks - panel_end;
        int parts = later * (m - k0) * (k1 - k0) * LANES < PARALLEL_MIN ? 1 : (int)(threads < later ? threads : later);
        qr.k0 = k0, qr.k1 = k1, qr.backward = 0;
        run_parts(qr_part, &qr, parts);
        if (qr.failed) goto done;
    }
    /* accumulation: Q = [I; 0], then the panels last to first, each block taking the panel's
     * reflectors in descending order */
    memset(qr.a, 0, (size_t)(qr.blocks * m * LANES) * sizeof(double));
    for (ptrdiff_t j = 0; j < n; j++) qr.a[((j / LANES) * m + j) * LANES + j % LANES] = 1.0;
    for (ptrdiff_t k0 = (n - 1) / PANEL * PANEL; n > 0 && k0 >= 0; k0 -= PANEL) {
        ptrdiff_t k1 = k0 + PANEL < n ? k0 + PANEL : n;
        ptrdiff_t blocks = qr.blocks - k0 / LANES;
        int parts = blocks * (m - k0) * (k1 - k0) * LANES < PARALLEL_MIN ? 1 : (int)(threads < blocks ? threads : blocks);
        qr.k0 = k0, qr.k1 = k1, qr.backward = 1;
        run_parts(qr_part, &qr, parts);
        if (qr.failed) goto done;
    }
    /* column j times sign(alpha_j), unpacked */
    for (ptrdiff_t i = 0; i < m; i++)
        for (ptrdiff_t j = 0; j < n; j++) {
            double sign = qr.alpha[j] < 0.0 ? -1.0 : 1.0;
            out[i * n + j] = qr.a[((j / LANES) * m + i) * LANES + j % LANES] * sign;
        }
    status = 0;
done:
    free(qr.a);
    free(qr.v);
    free(qr.scaled);
    free(qr.voff);
    free(qr.beta);
    free(qr.alpha);
    free(scratch);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* Python entry points                                                                         */

/* A C-contiguous float64 buffer of at least `count` doubles (writable if asked). */
static int buffer_of(PyObject *obj, Py_buffer *view, Py_ssize_t count, int writable, const char *what) {
    if (PyObject_GetBuffer(obj, view, (writable ? PyBUF_WRITABLE : 0) | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (count < 0 || view->len < count * (Py_ssize_t)sizeof(double)) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, %zd needed", what, view->len, count * 8);
        return -1;
    }
    return 0;
}

static int clamp_threads(int threads) { return threads < 1 ? 1 : threads > 64 ? 64 : threads; }

/* tree_sum(values, pre, n, post, out, threads): values (pre, n, post) summed along n into out
 * (pre, post); n >= 1. */
static PyObject *py_tree_sum(PyObject *self, PyObject *args) {
    PyObject *in, *out;
    Py_ssize_t pre, n, post;
    int threads;
    if (!PyArg_ParseTuple(args, "OnnnOi", &in, &pre, &n, &post, &out, &threads)) return NULL;
    if (pre < 0 || n < 1 || post < 1) {
        PyErr_SetString(PyExc_ValueError, "tree_sum needs pre >= 0, n >= 1, post >= 1");
        return NULL;
    }
    Py_buffer src, dst;
    if (buffer_of(in, &src, pre * n * post, 0, "values") < 0) return NULL;
    if (buffer_of(out, &dst, pre * post, 1, "out") < 0) {
        PyBuffer_Release(&src);
        return NULL;
    }
    TreeJob job = {.in = src.buf, .out = dst.buf, .pre = pre, .n = n, .post = post};
    columns_of(&job.columns, post, n / 8 + 2, 1 << 15, 1024);
    ptrdiff_t units = post == 1 ? pre : pre * job.columns.units;
    int parts = pre * n * post < PARALLEL_MIN ? 1 : clamp_threads(threads);
    if (parts > units) parts = (int)(units ? units : 1);
    Py_BEGIN_ALLOW_THREADS;
    run_parts(tree_part, &job, parts);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (job.failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* matmul(a, b, out, m, k, n, transposed, threads): out (m x n) = a (m x k) @ b, b (k x n), or
 * b given as its transpose (n x k) when transposed; k >= 1. */
static PyObject *py_matmul(PyObject *self, PyObject *args) {
    PyObject *a, *b, *out;
    Py_ssize_t m, k, n;
    int transposed, threads;
    if (!PyArg_ParseTuple(args, "OOOnnnpi", &a, &b, &out, &m, &k, &n, &transposed, &threads)) return NULL;
    if (m < 0 || k < 1 || n < 0) {
        PyErr_SetString(PyExc_ValueError, "matmul needs m >= 0, k >= 1, n >= 0");
        return NULL;
    }
    Py_buffer va, vb, vo;
    if (buffer_of(a, &va, m * k, 0, "a") < 0) return NULL;
    if (buffer_of(b, &vb, k * n, 0, "b") < 0) {
        PyBuffer_Release(&va);
        return NULL;
    }
    if (buffer_of(out, &vo, m * n, 1, "out") < 0) {
        PyBuffer_Release(&va);
        PyBuffer_Release(&vb);
        return NULL;
    }
    MatmulJob job = {.a = va.buf, .b = vb.buf, .out = vo.buf, .m = m, .k = k, .n = n, .transposed = transposed};
    columns_of(&job.columns, n, k, MM_BUDGET, 256);
    if (m > 0 && n > 0) {
        int parts = m * k * n < PARALLEL_MIN ? 1 : clamp_threads(threads);
        ptrdiff_t most = job.columns.units >= parts ? job.columns.units : m;
        Py_BEGIN_ALLOW_THREADS;
        run_parts(matmul_part, &job, most < parts ? (int)most : parts);
        Py_END_ALLOW_THREADS;
    }
    PyBuffer_Release(&va);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&vo);
    if (job.failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* haar_columns(z, out, m, n, threads): out (m x n) = Q of z (m x n, m >= n). */
static PyObject *py_haar_columns(PyObject *self, PyObject *args) {
    PyObject *z, *out;
    Py_ssize_t m, n;
    int threads;
    if (!PyArg_ParseTuple(args, "OOnni", &z, &out, &m, &n, &threads)) return NULL;
    if (n < 0 || m < n) {
        PyErr_SetString(PyExc_ValueError, "haar_columns needs a tall matrix (m >= n)");
        return NULL;
    }
    Py_buffer vz, vo;
    if (buffer_of(z, &vz, m * n, 0, "z") < 0) return NULL;
    if (buffer_of(out, &vo, m * n, 1, "out") < 0) {
        PyBuffer_Release(&vz);
        return NULL;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS;
    status = haar(vz.buf, m, n, clamp_threads(threads), vo.buf);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&vz);
    PyBuffer_Release(&vo);
    if (status < 0) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef METHODS[] = {
    {"tree_sum", py_tree_sum, METH_VARARGS, "tree_sum(values, pre, n, post, out, threads)"},
    {"matmul", py_matmul, METH_VARARGS, "matmul(a, b, out, m, k, n, transposed, threads)"},
    {"haar_columns", py_haar_columns, METH_VARARGS, "haar_columns(z, out, m, n, threads)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, .m_name = "_linalg",
    .m_doc = "initw-v1 pinned reductions, products and Householder QR, compiled", .m_size = -1, .m_methods = METHODS};

PyMODINIT_FUNC PyInit__linalg(void) { return PyModule_Create(&MODULE); }
