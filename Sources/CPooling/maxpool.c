// CPooling's max pooling (see cpooling.h for the contract). Per output row, the columns
// whose windows lie wholly inside the input run as one loop per tap over the row's outputs
// (best and index kept in the output row itself, in L1): the compiler vectorizes it, with
// the strided reads of stride 2 as interleaved loads; 2×2 windows at stride 2 (VGG's pools)
// take their four taps in one pass. The columns at the edges, whose windows are clipped,
// run one output at a time. All compare taps in the same order. The body is compiled for
// AVX-512, AVX2 and plain x86-64 and chosen at run time (the same results: compares and selects only).
#include "cpooling.h"

static inline void one_output(const float *xs, int h, int w, int size, int stride, int pad, int i, int j,
                              float *out, int *index) {
    const int r0 = i * stride - pad, c0 = j * stride - pad;
    const int aLo = r0 < 0 ? -r0 : 0, aHi = h - r0 < size ? h - r0 : size;
    const int bLo = c0 < 0 ? -c0 : 0, bHi = w - c0 < size ? w - c0 : size;
    float best = 0;
    int bi = -1;
    for (int a = aLo; a < aHi; a++)
        for (int b = bLo; b < bHi; b++) {
            const int at = (r0 + a) * w + c0 + b;
            const float v = xs[at];
            if (bi < 0 || v > best) { best = v; bi = at; }
        }
    *out = bi < 0 ? 0 : best;
    if (index) *index = bi < 0 ? 0 : bi;
}

// One row of 2×2 windows at stride 2, none clipped: rows r0 and r1 (r1 = r0 + w, r0 at
// index rowAt of the plane), outputs jlo … jhi − 1; taps in row-major order, each taken
// when greater than the best so far.
static inline __attribute__((always_inline)) void row_2x2(const float *r0, const float *r1, int rowAt, int w, int jlo, int jhi,
                                                          float *yr, int *ar) {
    if (ar)
        for (int j = jlo; j < jhi; j++) {
            const float a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
            float best = a;
            int bi = rowAt + 2 * j;
            bi = b > best ? rowAt + 2 * j + 1 : bi; best = b > best ? b : best;
            bi = c > best ? rowAt + w + 2 * j : bi; best = c > best ? c : best;
            bi = d > best ? rowAt + w + 2 * j + 1 : bi; best = d > best ? d : best;
            yr[j] = best; ar[j] = bi;
        }
    else
        for (int j = jlo; j < jhi; j++) {
            const float a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
            float best = a;
            best = b > best ? b : best;
            best = c > best ? c : best;
            best = d > best ? d : best;
            yr[j] = best;
        }
}

// Rows r0 + aLo … r0 + aHi − 1 of the windows of outputs jlo … jhi − 1 (none clipped at the
// sides): one loop over the outputs per tap, the best and its index kept in the output row.
static inline __attribute__((always_inline)) void row_taps(const float *xs, int w, int size, const int stride, int pad, int r0, int aLo,
                                                           int aHi, int jlo, int jhi, float *yr, int *ar) {
    int first = 1;
    for (int a = aLo; a < aHi; a++)
        for (int b = 0; b < size; b++) {
            // Tap (a, b) of output j reads column j·stride − pad + b of row r0 + a.
            const int rowAt = (r0 + a) * w + b - pad;
            const float *src = xs + rowAt;
            if (first) {
                for (int j = jlo; j < jhi; j++) yr[j] = src[j * stride];
                if (ar) for (int j = jlo; j < jhi; j++) ar[j] = rowAt + j * stride;
                first = 0;
            } else if (ar) {
                for (int j = jlo; j < jhi; j++) {
                    const float v = src[j * stride];
                    const int take = v > yr[j];
                    yr[j] = take ? v : yr[j];
                    ar[j] = take ? rowAt + j * stride : ar[j];
                }
            } else {
                for (int j = jlo; j < jhi; j++) {
                    const float v = src[j * stride];
                    yr[j] = v > yr[j] ? v : yr[j];
                }
            }
        }
}

static inline __attribute__((always_inline)) void max_pool(const float *x, long planes, int h, int w, int oh, int ow, int size,
                                                           int stride, int pad, float *y, int *argmax) {
    // Columns j whose windows need no clipping: j·stride − pad ≥ 0 and j·stride − pad + size ≤ w.
    int jlo = (pad + stride - 1) / stride, jhi = w - size + pad >= 0 ? (w - size + pad) / stride + 1 : 0;
    if (jhi > ow) jhi = ow;
    if (jlo > jhi) jlo = jhi;
    for (long p = 0; p < planes; p++) {
        const float *xs = x + p * (long)h * w;
        float *ys = y + p * (long)oh * ow;
        int *as = argmax ? argmax + p * (long)oh * ow : 0;
        for (int i = 0; i < oh; i++) {
            float *yr = ys + (long)i * ow;
            int *ar = as ? as + (long)i * ow : 0;
            for (int j = 0; j < jlo; j++) one_output(xs, h, w, size, stride, pad, i, j, yr + j, ar ? ar + j : 0);
            for (int j = jhi; j < ow; j++) one_output(xs, h, w, size, stride, pad, i, j, yr + j, ar ? ar + j : 0);
            const int r0 = i * stride - pad;
            const int aLo = r0 < 0 ? -r0 : 0, aHi = h - r0 < size ? h - r0 : size;
            if (jlo >= jhi) continue;
            if (aLo >= aHi) {   // no input row in the window (ceil mode's last row only)
                for (int j = jlo; j < jhi; j++) { yr[j] = 0; if (ar) ar[j] = 0; }
                continue;
            }
            if (size == 2 && stride == 2 && pad == 0 && aHi == 2) {
                row_2x2(xs + (long)r0 * w, xs + (long)(r0 + 1) * w, r0 * w, w, jlo, jhi, yr, ar);
                continue;
            }
            // Stride 2 (every pool of the zoo but stride 1) as a constant, so that its reads vectorize.
            if (stride == 2) row_taps(xs, w, size, 2, pad, r0, aLo, aHi, jlo, jhi, yr, ar);
            else row_taps(xs, w, size, stride, pad, r0, aLo, aHi, jlo, jhi, yr, ar);
        }
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void max_pool_512(const float *x, long planes, int h, int w, int oh,
                                                                                      int ow, int size, int stride, int pad, float *y, int *argmax) {
    max_pool(x, planes, h, w, oh, ow, size, stride, pad, y, argmax);
}
__attribute__((target("avx2"))) static void max_pool_256(const float *x, long planes, int h, int w, int oh, int ow, int size, int stride,
                                                         int pad, float *y, int *argmax) {
    max_pool(x, planes, h, w, oh, ow, size, stride, pad, y, argmax);
}
#endif

int tlc_max_pool_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512dq")) return 2;
    if (__builtin_cpu_supports("avx2")) return 1;
#endif
    return 0;
}

void tlc_max_pool_at(int level, const float *x, long planes, int h, int w, int oh, int ow, int size, int stride, int pad,
                     float *y, int *argmax) {
#if defined(__x86_64__)
    if (level >= 2) { max_pool_512(x, planes, h, w, oh, ow, size, stride, pad, y, argmax); return; }
    if (level == 1) { max_pool_256(x, planes, h, w, oh, ow, size, stride, pad, y, argmax); return; }
#else
    (void)level;
#endif
    max_pool(x, planes, h, w, oh, ow, size, stride, pad, y, argmax);
}

void tlc_max_pool(const float *x, long planes, int h, int w, int oh, int ow, int size, int stride, int pad,
                  float *y, int *argmax) {
    tlc_max_pool_at(tlc_max_pool_level(), x, planes, h, w, oh, ow, size, stride, pad, y, argmax);
}
