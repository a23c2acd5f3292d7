// CDirectConv — the direct convolution's weight gradient: per chunk of samples, dot products
// of output-gradient rows with shifted rows of the padded input over the wide positions,
// in register tiles of output channels × kernel taps. See cdirectconv.h.
#include "cdirectconv.h"
#include "geometry.h"
#include "winograd.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define TLC_X86 1
#endif

// Samples whose sums share the lanes before one reduction: as many as fit in about
// 2 MiB of scratch (at most 16, at least 1). It depends only on the layer's geometry, so
// the summation order does not depend on the thread count.
static long chunk_of(const geometry *g, int outputs, int inputs, int k) {
    const long perSample = padded_count(g, inputs, k) + (long)outputs * g->Qt, budget = 1L << 19;
    const long chunk = budget / perSample;
    return chunk < 1 ? 1 : chunk > 16 ? 16 : chunk;
}

// db[o] += the chunk's sum of wide row o: 16 lanes over the samples' positions in order, then reduce16.
static void bias_sums(const float *wide, long samples, long wideCount, long Qt, int outputs, float *db) {
    for (int o = 0; o < outputs; o++) {
        float lanes[16] = {0};
        for (long s = 0; s < samples; s++) {
            const float *row = wide + s * wideCount + (long)o * Qt;
            for (long t = 0; t < Qt; t += 16)
                for (int l = 0; l < 16; l++) lanes[l] += row[t + l];
        }
        db[o] += reduce16_lanes(lanes);
    }
}

long tlc_direct_conv_weight_grad_scratch_count(int outputs, int inputs, int H, int W, int k, int pad) {
    const int m = tlc_winograd_tile(outputs, inputs, H, W, k, pad, 1);
    if (m) return tlc_winograd_grad_scratch_count(m, outputs, inputs, H, W, pad);
    geometry g = geometry_of(16, H, W, k, pad);
    return chunk_of(&g, outputs, inputs, k) * (padded_count(&g, inputs, k) + (long)outputs * g.Qt);
}

#ifdef TLC_X86
#define UNROLLED _Pragma("clang loop unroll(full)")

// A tile of MR output channels × NT taps: lanes[(r·NT + n)·16 + l] = Σ_s Σ_t dy_r[s·dyStride + t + l] ·
// x_n[s·xStride + t + l] over `samples` samples of Qt positions (t a multiple of 16).
static inline __attribute__((always_inline, target("avx512f")))
void tile512(const int MR, const int NT, const float *const *dy, const float *const *x, long samples, long dyStride, long xStride,
             long Qt, float *lanes) {
    __m512 acc[MR * NT];
    UNROLLED for (int i = 0; i < MR * NT; i++) acc[i] = _mm512_setzero_ps();
    for (long s = 0; s < samples; s++)
    for (long t = 0; t < Qt; t += 16) {
        __m512 xv[NT];
        UNROLLED for (int n = 0; n < NT; n++) xv[n] = _mm512_loadu_ps(x[n] + s * xStride + t);
        UNROLLED for (int r = 0; r < MR; r++) {
            __m512 d = _mm512_loadu_ps(dy[r] + s * dyStride + t);
            UNROLLED for (int n = 0; n < NT; n++) acc[r * NT + n] = _mm512_fmadd_ps(d, xv[n], acc[r * NT + n]);
        }
    }
    UNROLLED for (int i = 0; i < MR * NT; i++)
        _mm512_storeu_ps(lanes + 16 * i, acc[i]);
}

__attribute__((target("avx512f"))) static void tile512_4x6(const float *const *dy, const float *const *x, long samples, long dyStride,
                                                          long xStride, long Qt, float *lanes) {
    tile512(4, 6, dy, x, samples, dyStride, xStride, Qt, lanes);
}

// AVX2: 2 channels × 2 taps, each 16-lane accumulator as two halves (the same chains).
__attribute__((target("avx2,fma"))) static void tile256_2x2(const float *const *dy, const float *const *x, long samples, long dyStride,
                                                          long xStride, long Qt, float *lanes) {
    __m256 acc[8];
    UNROLLED for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    for (long s = 0; s < samples; s++)
    for (long t = 0; t < Qt; t += 16) {
        const float *x0 = x[0] + s * xStride + t, *x1 = x[1] + s * xStride + t;
        __m256 x0l = _mm256_loadu_ps(x0), x0h = _mm256_loadu_ps(x0 + 8);
        __m256 x1l = _mm256_loadu_ps(x1), x1h = _mm256_loadu_ps(x1 + 8);
        UNROLLED for (int r = 0; r < 2; r++) {
            const float *d = dy[r] + s * dyStride + t;
            __m256 dl = _mm256_loadu_ps(d), dh = _mm256_loadu_ps(d + 8);
            acc[r * 4 + 0] = _mm256_fmadd_ps(dl, x0l, acc[r * 4 + 0]);
            acc[r * 4 + 1] = _mm256_fmadd_ps(dh, x0h, acc[r * 4 + 1]);
            acc[r * 4 + 2] = _mm256_fmadd_ps(dl, x1l, acc[r * 4 + 2]);
            acc[r * 4 + 3] = _mm256_fmadd_ps(dh, x1h, acc[r * 4 + 3]);
        }
    }
    UNROLLED for (int i = 0; i < 4; i++) {   // output i = r·2 + n: halves acc[2i], acc[2i + 1]
        _mm256_storeu_ps(lanes + 16 * i, acc[2 * i]);
        _mm256_storeu_ps(lanes + 16 * i + 8, acc[2 * i + 1]);
    }
}

// The weight gradient; compiled for AVX2 (which every level has) so that the copies and
// the bias sums vectorize; the tiles are chosen by level.
__attribute__((target("avx2,fma")))
static void weight_grad(int level, const float *x, const float *dy, const float *mask, int samples, int C, int H, int W,
                        int outputs, int k, int pad, float *scratch, float *dW, float *db) {
    const geometry g = geometry_of(16, H, W, k, pad);
    const long paddedCount = padded_count(&g, C, k), taps = (long)C * k * k, outPlane = (long)g.OH * g.OW;
    const long chunk = chunk_of(&g, outputs, C, k), wideCount = (long)outputs * g.Qt;
    float *const inCopy = scratch, *const wideCopy = scratch + chunk * paddedCount;
    memset(dW, 0, (size_t)(outputs * taps) * sizeof(float));
    if (db) memset(db, 0, (size_t)outputs * sizeof(float));
    const int MR = level >= 2 ? 4 : 2, NT = level >= 2 ? 6 : 2;
    // A 1×1 convolution without padding whose planes fill whole tiles of 16 reads x and
    // dy where they are: its padded planes are x's planes and its wide rows dy's (the
    // same sums, no copies).
    const int inPlace = k == 1 && pad == 0 && !mask && g.Q == g.Qt;
    const long xStride = inPlace ? (long)C * H * W : paddedCount, dyStride = inPlace ? (long)outputs * outPlane : wideCount;
    for (long s0 = 0; s0 < samples; s0 += chunk) {
        const long n = samples - s0 < chunk ? samples - s0 : chunk;
        // The chunk's padded samples and wide rows of dy: in place, or copied into the scratch.
        const float *in = inPlace ? x + s0 * C * H * W : inCopy, *wide = inPlace ? dy + s0 * outputs * outPlane : wideCopy;
        if (!inPlace) for (long s = 0; s < n; s++) {
            pad_sample(x + (s0 + s) * C * H * W, NULL, C, H, W, pad, &g, paddedCount, inCopy + s * paddedCount);
            // dy in wide rows: OW values (through the mask), zeros to PW, zeros from Q to Qt.
            const float *dys = dy + (s0 + s) * outputs * outPlane, *ms = mask ? mask + (s0 + s) * outputs * outPlane : NULL;
            for (int o = 0; o < outputs; o++) {
                float *rowStart = wideCopy + s * wideCount + o * g.Qt;
                for (int i = 0; i < g.OH; i++) {
                    float *dst = rowStart + (long)i * g.PW;
                    const long at = o * outPlane + (long)i * g.OW;
                    if (ms) masked_copy(dst, dys + at, ms + at, g.OW);
                    else memcpy(dst, dys + at, (size_t)g.OW * sizeof(float));
                    for (int j = g.OW; j < g.PW; j++) dst[j] = 0;
                }
                memset(rowStart + g.Q, 0, (size_t)(g.Qt - g.Q) * sizeof(float));
            }
        }
        if (db) bias_sums(wide, n, dyStride, g.Qt, outputs, db);
        for (int o0 = 0; o0 < outputs; o0 += MR) {
            const float *dyRows[4];
            for (int r = 0; r < MR; r++) dyRows[r] = wide + (long)(o0 + r < outputs ? o0 + r : outputs - 1) * g.Qt;
            for (long t0 = 0; t0 < taps; t0 += NT) {
                const float *xRows[6];
                for (int j = 0; j < NT; j++) {
                    const long t = t0 + j < taps ? t0 + j : taps - 1;
                    const long c = t / (k * k), ki = t / k % k, kj = t % k;
                    xRows[j] = in + c * g.plane + ki * g.PW + kj;
                }
                float lanes[24 * 16];
                if (level >= 2) tile512_4x6(dyRows, xRows, n, dyStride, xStride, g.Qt, lanes);
                else tile256_2x2(dyRows, xRows, n, dyStride, xStride, g.Qt, lanes);
                for (int r = 0; r < MR && o0 + r < outputs; r++)
                    for (int j = 0; j < NT && t0 + j < taps; j++) dW[(o0 + r) * taps + t0 + j] += reduce16_lanes(lanes + 16 * (r * NT + j));
            }
        }
    }
}
#endif

void tlc_direct_conv_weight_grad(int level, const float *x, const float *dy, const float *mask, int samples, int C, int H, int W,
                                 int outputs, int k, int pad, float *scratch, float *dW, float *db) {
#ifdef TLC_X86
    const int m = tlc_winograd_tile(outputs, C, H, W, k, pad, 1);
    if (level >= 1 && m) tlc_winograd_weight_grad(m, level, x, dy, mask, samples, C, H, W, outputs, pad, scratch, dW, db);
    else if (level >= 1) weight_grad(level, x, dy, mask, samples, C, H, W, outputs, k, pad, scratch, dW, db);
#else
    (void)level; (void)x; (void)dy; (void)mask; (void)samples; (void)C; (void)H; (void)W; (void)outputs; (void)k; (void)pad;
    (void)scratch; (void)dW; (void)db;
#endif
}
