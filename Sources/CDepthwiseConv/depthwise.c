// CDepthwiseConv — the depthwise convolution and its gradients over stride² phase planes,
// 16 wide positions per vector. See cdepthwiseconv.h.
//
// One body of each pass, written on 16-lane vectors (clang's vector extension), is
// compiled three times: for AVX-512, for AVX2 with FMA (each vector two halves) and for
// plain C. __builtin_elementwise_fma rounds once per lane on all three, so they agree bitwise.
#include "cdepthwiseconv.h"
#include <string.h>
#if defined(__x86_64__)
#define TLC_X86 1
#endif

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
#define LOAD(p) (*(const v16u *)(p))
#define STORE(p, v) (*(v16u *)(p) = (v))
#define FMA(a, b, c) __builtin_elementwise_fma((a), (b), (c))
#define INLINE static inline __attribute__((always_inline))

// One plane's geometry: padded PH×PW, output OH×OW, phase planes PHq×PWq (one per row and
// column phase), Q wide positions rounded up to Qt (whole vectors), and the floats each
// phase plane takes (its rows, then slack for the last vectors' reads).
typedef struct {
    int H, W, k, st, pad, PH, PW, OH, OW, PHq, PWq;
    long Q, Qt, pstride;
} dgeom;

static dgeom dgeom_of(int H, int W, int k, int st, int pad) {
    dgeom g = {.H = H, .W = W, .k = k, .st = st, .pad = pad};
    g.PH = H + 2 * pad; g.PW = W + 2 * pad;
    g.OH = (g.PH - k) / st + 1; g.OW = (g.PW - k) / st + 1;
    g.PHq = (g.PH + st - 1) / st; g.PWq = (g.PW + st - 1) / st;
    g.Q = (long)g.OH * g.PWq;
    g.Qt = (g.Q + 15) / 16 * 16;
    // A tap reads up to Qt − 1 + (k − 1)/st · (PWq + 1) into its phase plane.
    long reads = g.Qt + (long)((k - 1) / st) * (g.PWq + 1);
    long rows = (long)g.PHq * g.PWq;
    g.pstride = ((reads > rows ? reads : rows) + 15) / 16 * 16;
    return g;
}

static long phases_count(const dgeom *g) { return (long)g->st * g->st * g->pstride; }

long tlc_depthwise_scratch_count(int H, int W, int k, int stride, int pad) {
    dgeom g = dgeom_of(H, W, k, stride, pad);
    // x's phase planes, dx's phase planes, one wide plane (the output or dy), 16 lanes per tap
    // and the bias, one strided row.
    return 2 * phases_count(&g) + g.Qt + (long)(k * k + 1) * 16 + (long)g.PWq * stride;
}

// The phase plane and offset tap (ki, kj) reads for wide position 0.
static inline long tap_offset(const dgeom *g, int ki, int kj) {
    const int st = g->st;
    return ((long)(ki % st) * st + kj % st) * g->pstride + (long)(ki / st) * g->PWq + kj / st;
}

// Writes plane x (H × W) as its zero-padded phase planes (a strided row through `row`, PWq·st floats).
// Only what no row of x lands on is zeroed: the padding rows, each phase plane's slack, and
// (stride 1) each row's padding columns.
static void split_phases(const float *x, const dgeom *g, float *row, float *P) {
    const int st = g->st, pad = g->pad, H = g->H, W = g->W, PWq = g->PWq;
    const long rows = (long)g->PHq * PWq;
    for (int a = 0; a < st; a++)
        for (int b = 0; b < st; b++) {
            float *plane = P + ((long)a * st + b) * g->pstride;
            for (int rq = 0; rq < g->PHq; rq++) {
                const int r = rq * st + a;
                if (r < pad || r >= pad + H) memset(plane + (long)rq * PWq, 0, (size_t)PWq * sizeof(float));
            }
            memset(plane + rows, 0, (size_t)(g->pstride - rows) * sizeof(float));
        }
    if (st == 1) {
        for (int i = 0; i < H; i++) {
            float *dst = P + (long)(i + pad) * PWq;
            for (int j = 0; j < pad; j++) dst[j] = 0;
            memcpy(dst + pad, x + (long)i * W, (size_t)W * sizeof(float));
            for (int j = pad + W; j < PWq; j++) dst[j] = 0;
        }
        return;
    }
    memset(row, 0, (size_t)PWq * st * sizeof(float));
    for (int i = 0; i < H; i++) {
        const int r = i + pad, a = r % st;
        memcpy(row + pad, x + (long)i * W, (size_t)W * sizeof(float));
        for (int b = 0; b < st; b++) {
            float *dst = P + ((long)a * st + b) * g->pstride + (long)(r / st) * PWq;
            for (int c = 0; c < PWq; c++) dst[c] = row[c * st + b];
        }
    }
}

// The inverse for the input gradient: dx (H × W) from the padded phase planes (through `row`).
static void join_phases(const float *P, const dgeom *g, float *row, float *dx) {
    const int st = g->st, pad = g->pad, H = g->H, W = g->W, PWq = g->PWq;
    for (int i = 0; i < H; i++) {
        const int r = i + pad, a = r % st;
        float *dst = dx + (long)i * W;
        if (st == 1) { memcpy(dst, P + (long)r * PWq + pad, (size_t)W * sizeof(float)); continue; }
        for (int b = 0; b < st; b++) {
            const float *src = P + ((long)a * st + b) * g->pstride + (long)(r / st) * PWq;
            for (int c = 0; c < PWq; c++) row[c * st + b] = src[c];
        }
        memcpy(dst, row + pad, (size_t)W * sizeof(float));
    }
}

// The wide plane of dy (OH × OW): rows PWq apart, zero past OW and past Q.
static void widen(const float *dy, const dgeom *g, float *wide) {
    memset(wide, 0, (size_t)g->Qt * sizeof(float));
    for (int oy = 0; oy < g->OH; oy++) memcpy(wide + (long)oy * g->PWq, dy + (long)oy * g->OW, (size_t)g->OW * sizeof(float));
}

// ---- The forward pass of one plane: wide[q] = b + Σ taps, the taps ki-major.

// k (3 or 5) known at compile time: all taps in registers, four vectors at a time.
INLINE void forward_taps(const dgeom *g, const float *P, const float *w, float b, float *wide, const int k) {
    const int kk = k * k;
    const float *tap[25];
    v16 wv[25];
    for (int ki = 0; ki < k; ki++)
        for (int kj = 0; kj < k; kj++) { tap[ki * k + kj] = P + tap_offset(g, ki, kj); wv[ki * k + kj] = (v16){} + w[ki * k + kj]; }
    const v16 bias = (v16){} + b;
    long q = 0;
    for (; q + 64 <= g->Qt; q += 64) {
        v16 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
        for (int t = 0; t < kk; t++) {
            const float *p = tap[t] + q;
            a0 = FMA(wv[t], LOAD(p), a0); a1 = FMA(wv[t], LOAD(p + 16), a1);
            a2 = FMA(wv[t], LOAD(p + 32), a2); a3 = FMA(wv[t], LOAD(p + 48), a3);
        }
        STORE(wide + q, a0); STORE(wide + q + 16, a1); STORE(wide + q + 32, a2); STORE(wide + q + 48, a3);
    }
    for (; q < g->Qt; q += 16) {
        v16 a = bias;
        for (int t = 0; t < kk; t++) a = FMA(wv[t], LOAD(tap[t] + q), a);
        STORE(wide + q, a);
    }
}

// Any k: one tap at a time over the whole wide plane (the same chain per output).
INLINE void forward_any(const dgeom *g, const float *P, const float *w, float b, float *wide) {
    const v16 bias = (v16){} + b;
    for (long q = 0; q < g->Qt; q += 16) STORE(wide + q, bias);
    for (int ki = 0; ki < g->k; ki++)
        for (int kj = 0; kj < g->k; kj++) {
            const float *tap = P + tap_offset(g, ki, kj);
            const v16 wv = (v16){} + w[ki * g->k + kj];
            for (long q = 0; q < g->Qt; q += 16) STORE(wide + q, FMA(wv, LOAD(tap + q), LOAD(wide + q)));
        }
}

INLINE void forward_body(const float *x, int C, const float *w, const float *bias, const dgeom *g, long first, long last,
                         float *scratch, float *y) {
    float *P = scratch, *wide = scratch + 2 * phases_count(g), *row = wide + g->Qt;
    const int kk = g->k * g->k;
    for (long p = first; p < last; p++) {
        const int c = (int)(p % C);
        split_phases(x + p * g->H * g->W, g, row, P);
        const float b = bias ? bias[c] : 0.0f;
        if (g->k == 3) forward_taps(g, P, w + (long)c * kk, b, wide, 3);
        else if (g->k == 5) forward_taps(g, P, w + (long)c * kk, b, wide, 5);
        else forward_any(g, P, w + (long)c * kk, b, wide);
        float *yp = y + p * g->OH * g->OW;
        for (int oy = 0; oy < g->OH; oy++) memcpy(yp + (long)oy * g->OW, wide + (long)oy * g->PWq, (size_t)g->OW * sizeof(float));
    }
}

// ---- The backward pass of one channel over all samples.

// The fixed reduction of 16 lanes: i + i+8, then i + i+4, then i + i+2, then i + i+1.
static float reduce16(const float *lanes) {
    float s8[8];
    for (int i = 0; i < 8; i++) s8[i] = lanes[i] + lanes[i + 8];
    const float s4[4] = {s8[0] + s8[4], s8[1] + s8[5], s8[2] + s8[6], s8[3] + s8[7]};
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// dW's lanes (k, 3 or 5, known at compile time, all in registers) and db's lanes over one sample's wide dy.
INLINE void weight_lanes_taps(const dgeom *g, const float *P, const float *dyw, float *lanes, int wantW, const int k) {
    const int kk = k * k;
    const float *tap[25];
    v16 acc[25];
    for (int ki = 0; ki < k; ki++)
        for (int kj = 0; kj < k; kj++) { tap[ki * k + kj] = P + tap_offset(g, ki, kj); acc[ki * k + kj] = LOAD(lanes + (ki * k + kj) * 16); }
    v16 db = LOAD(lanes + kk * 16);
    for (long q = 0; q < g->Qt; q += 16) {
        const v16 d = LOAD(dyw + q);
        db += d;
        if (wantW) for (int t = 0; t < kk; t++) acc[t] = FMA(d, LOAD(tap[t] + q), acc[t]);
    }
    for (int t = 0; t < kk; t++) STORE(lanes + t * 16, acc[t]);
    STORE(lanes + kk * 16, db);
}

// Any k: one tap at a time (each lane the same chain over the positions).
INLINE void weight_lanes_any(const dgeom *g, const float *P, const float *dyw, float *lanes, int wantW) {
    const int kk = g->k * g->k;
    v16 db = LOAD(lanes + kk * 16);
    for (long q = 0; q < g->Qt; q += 16) db += LOAD(dyw + q);
    STORE(lanes + kk * 16, db);
    if (!wantW) return;
    for (int ki = 0; ki < g->k; ki++)
        for (int kj = 0; kj < g->k; kj++) {
            const float *tap = P + tap_offset(g, ki, kj);
            v16 acc = LOAD(lanes + (ki * g->k + kj) * 16);
            for (long q = 0; q < g->Qt; q += 16) acc = FMA(LOAD(dyw + q), LOAD(tap + q), acc);
            STORE(lanes + (ki * g->k + kj) * 16, acc);
        }
}

// The input gradient's phase planes: each tap adds w·dy at its offset, one tap after another.
INLINE void input_gradient(const dgeom *g, const float *dyw, const float *w, float *D) {
    memset(D, 0, (size_t)phases_count(g) * sizeof(float));
    for (int ki = 0; ki < g->k; ki++)
        for (int kj = 0; kj < g->k; kj++) {
            float *tap = D + tap_offset(g, ki, kj);
            const v16 wv = (v16){} + w[ki * g->k + kj];
            for (long q = 0; q < g->Qt; q += 16) STORE(tap + q, FMA(wv, LOAD(dyw + q), LOAD(tap + q)));
        }
}

INLINE void backward_body(const float *x, const float *dy, int samples, int C, const float *w, const dgeom *g, int first, int last,
                          float *scratch, float *dx, float *dW, float *db) {
    const int kk = g->k * g->k, wantW = dW != NULL, wantSums = dW != NULL || db != NULL;
    const long hw = (long)g->H * g->W, ohw = (long)g->OH * g->OW;
    float *P = scratch, *D = P + phases_count(g), *dyw = D + phases_count(g);
    float *lanes = dyw + g->Qt, *row = lanes + (kk + 1) * 16;
    for (int c = first; c < last; c++) {
        memset(lanes, 0, (size_t)(kk + 1) * 16 * sizeof(float));
        for (int s = 0; s < samples; s++) {
            const long plane = (long)s * C + c;
            widen(dy + plane * ohw, g, dyw);
            if (wantSums) {
                if (wantW) split_phases(x + plane * hw, g, row, P);
                if (g->k == 3) weight_lanes_taps(g, P, dyw, lanes, wantW, 3);
                else if (g->k == 5) weight_lanes_taps(g, P, dyw, lanes, wantW, 5);
                else weight_lanes_any(g, P, dyw, lanes, wantW);
            }
            if (dx) {
                input_gradient(g, dyw, w + (long)c * kk, D);
                join_phases(D, g, row, dx + plane * hw);
            }
        }
        if (dW) for (int t = 0; t < kk; t++) dW[(long)c * kk + t] = reduce16(lanes + t * 16);
        if (db) db[c] = reduce16(lanes + kk * 16);
    }
}

// ---- The three compilations and the dispatch.

#ifdef TLC_X86
__attribute__((target("avx512f"))) static void forward_avx512(const float *x, int C, const float *w, const float *bias, const dgeom *g,
                                                              long first, long last, float *scratch, float *y) {
    forward_body(x, C, w, bias, g, first, last, scratch, y);
}
__attribute__((target("avx2,fma"))) static void forward_avx2(const float *x, int C, const float *w, const float *bias, const dgeom *g,
                                                             long first, long last, float *scratch, float *y) {
    forward_body(x, C, w, bias, g, first, last, scratch, y);
}
__attribute__((target("avx512f"))) static void backward_avx512(const float *x, const float *dy, int samples, int C, const float *w,
                                                               const dgeom *g, int first, int last, float *scratch, float *dx,
                                                               float *dW, float *db) {
    backward_body(x, dy, samples, C, w, g, first, last, scratch, dx, dW, db);
}
__attribute__((target("avx2,fma"))) static void backward_avx2(const float *x, const float *dy, int samples, int C, const float *w,
                                                              const dgeom *g, int first, int last, float *scratch, float *dx,
                                                              float *dW, float *db) {
    backward_body(x, dy, samples, C, w, g, first, last, scratch, dx, dW, db);
}
#endif
static void forward_plain(const float *x, int C, const float *w, const float *bias, const dgeom *g, long first, long last,
                          float *scratch, float *y) {
    forward_body(x, C, w, bias, g, first, last, scratch, y);
}
static void backward_plain(const float *x, const float *dy, int samples, int C, const float *w, const dgeom *g, int first, int last,
                           float *scratch, float *dx, float *dW, float *db) {
    backward_body(x, dy, samples, C, w, g, first, last, scratch, dx, dW, db);
}

void tlc_depthwise_forward(int level, const float *x, int C, int H, int W, const float *w, const float *bias, int k, int stride,
                           int pad, long first, long last, float *scratch, float *y) {
    const dgeom g = dgeom_of(H, W, k, stride, pad);
#ifdef TLC_X86
    if (level >= 2) { forward_avx512(x, C, w, bias, &g, first, last, scratch, y); return; }
    if (level == 1) { forward_avx2(x, C, w, bias, &g, first, last, scratch, y); return; }
#endif
    forward_plain(x, C, w, bias, &g, first, last, scratch, y);
}

void tlc_depthwise_backward(int level, const float *x, const float *dy, int samples, int C, int H, int W, const float *w, int k,
                            int stride, int pad, int first, int last, float *scratch, float *dx, float *dW, float *db) {
    const dgeom g = dgeom_of(H, W, k, stride, pad);
#ifdef TLC_X86
    if (level >= 2) { backward_avx512(x, dy, samples, C, w, &g, first, last, scratch, dx, dW, db); return; }
    if (level == 1) { backward_avx2(x, dy, samples, C, w, &g, first, last, scratch, dx, dW, db); return; }
#endif
    backward_plain(x, dy, samples, C, w, &g, first, last, scratch, dx, dW, db);
}
