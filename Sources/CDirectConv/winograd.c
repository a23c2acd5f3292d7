// CDirectConv's Winograd F(2×2, 3×3) convolution (private to CDirectConv; see
// cdirectconv.h for the API and winograd.h for what this file owns). Each 2×2 block of
// outputs comes from a 4×4 window of the padded input: V = Bᵀ d B per input channel,
// U = G g Gᵀ per kernel, M = Σ_c U ⊙ V (16 independent sums over the channels: 16 GEMMs
// of output channels × channels × tiles), Y = Aᵀ M A. That is 16 multiply-adds per 4
// outputs and channel instead of 36.
//
// The transforms are plain C (adds, subtracts and halvings in one fixed order, no fused
// multiply-adds), so every instruction set computes them to the same bits; each of the 16
// sums is one fused multiply-add chain per output over the channels in blocks of 288
// (like the direct convolution's taps), whatever the register tile. AVX-512 and AVX2
// therefore give bitwise the same result.
#include "winograd.h"
#include "winograd_tiles.h"
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define TLC_X86 1
#endif

// The transforms and the epilogue must round as written (BatchNorm's (v − mean)·scale + shift too).
#pragma clang fp contract(off)

enum { MR = 8, CHANNEL_BLOCK = 288 };

// Each of the 16 sums reads one slice of V (inputs × TB floats, kept in L2 while every
// block of output channels passes it) and the transformed kernel's slice for ξ once per
// block: long blocks read the kernel (16 · outputs · inputs floats) less often, which
// decides 512-channel layers; up to 64 K floats per slice.
static wgeometry forward_geometry(int outputs, int inputs, int H, int W, int pad) {
    long target = 65536 / (inputs > 0 ? inputs : 1);
    if (target < 16) target = 16;
    if (target > 128) target = 128;
    return wgeometry_of(H, W, pad, target / 16 * 16, (outputs + MR - 1) / MR * MR);
}

int tlc_winograd_applies(int outputs, int inputs, int H, int W, int k, int pad) {
    // Measured on one Zen 5 core against the direct convolution, 32 samples, AVX-512 (AVX2):
    // 32 → 32 channels at 28² 1.34× as fast (1.66×), 64 → 64 at 56² 1.53× (1.88×), 256 → 256
    // at 14² 1.73× (2.09×), 128 → 128 at 7² 1.16× (1.53×), 512 → 512 at 7² 1.44× (1.48×);
    // with 16 channels on either side the transforms cost what the sums save on AVX-512
    // (0.96–1.12×). The choice cannot depend on the instruction set: both give the same bits.
    if (k != 3 || pad > 2 || inputs < 32 || outputs < 32) return 0;
    const int OH = H + 2 * pad - 2, OW = W + 2 * pad - 2;
    return OH >= 7 && OW >= 7;
}

long tlc_winograd_packed_count(int outputs, int inputs) {
    return 16L * ((outputs + MR - 1) / MR * MR) * inputs;
}

#ifdef TLC_X86
// U for the MR outputs of block b and channel c at once (lanes = outputs; the same
// operations in the same order as one output at a time).
__attribute__((target("avx2")))
static void pack_block(const float *w, int outputs, int inputs, long b, long c, long per, float *dst) {
    __m256 g[9];
    for (int k = 0; k < 9; k++) {
        float lane[MR];
        for (int r = 0; r < MR; r++) {
            const long o = b * MR + r;
            lane[r] = o < outputs ? w[(o * inputs + c) * 9 + k] : 0.0f;
        }
        g[k] = _mm256_loadu_ps(lane);
    }
    const __m256 half = _mm256_set1_ps(0.5f);
    __m256 t[4][3];
    for (int j = 0; j < 3; j++) {
        t[0][j] = g[j];
        t[1][j] = _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(g[j], g[3 + j]), g[6 + j]), half);
        t[2][j] = _mm256_mul_ps(_mm256_add_ps(_mm256_sub_ps(g[j], g[3 + j]), g[6 + j]), half);
        t[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + (i * 4 + 0) * per, t[i][0]);
        _mm256_storeu_ps(dst + (i * 4 + 1) * per, _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(t[i][0], t[i][1]), t[i][2]), half));
        _mm256_storeu_ps(dst + (i * 4 + 2) * per, _mm256_mul_ps(_mm256_add_ps(_mm256_sub_ps(t[i][0], t[i][1]), t[i][2]), half));
        _mm256_storeu_ps(dst + (i * 4 + 3) * per, t[i][2]);
    }
}
#endif

// U[ξ][block][c][r] = (G g Gᵀ)[ξ] for output channel block·MR + r (0 past `outputs`): t = G g
// (rows), then t Gᵀ, each ½ applied after its sum.
void tlc_winograd_pack(const float *w, int outputs, int inputs, float *packed) {
#ifdef TLC_X86
    const long Opad = (outputs + MR - 1) / MR * MR, per = Opad * inputs;
    for (long b = 0; b < Opad / MR; b++)
        for (long c = 0; c < inputs; c++) pack_block(w, outputs, inputs, b, c, per, packed + (b * inputs + c) * MR);
#else
    (void)w; (void)outputs; (void)inputs; (void)packed;
#endif
}

// Scratch per part: the split inputs of the samples one block can touch, V and M of one
// block (16 floats of slack after M: the output transform's last vector reads past it),
// and the block's segments.
long tlc_winograd_scratch_count(int outputs, int inputs, int H, int W, int pad) {
    const wgeometry g = forward_geometry(outputs, inputs, H, W, pad);
    return g.slots * halves_count(&g, inputs) + 16L * inputs * g.VS + 16L * g.Opad * g.TB + 16
           + (segments_max(&g) * (long)sizeof(segment) + 3) / 4 + 2;
}

#ifdef TLC_X86
// Y = Aᵀ M A for output channel o's tiles of the block, then bias, batch norm and ReLU (clamped at `ceiling`), into ys.
static inline __attribute__((always_inline, target("avx2")))
void transform_output(const wgeometry *g, const float *M, long mstride, int o, const segment *segs, int nsegs, const float *bias,
                      const float *mean, const float *scale, const float *shift, int relu, float ceiling, float *y, long sampleStride, float *rowbuf) {
    // Without a bias this adds +0 (a −0 becomes +0, as in the direct convolution, whose sums start from +0).
    const __m256 bv = _mm256_set1_ps(bias ? bias[o] : 0);
    const float mu = mean ? mean[o] : 0, sc = mean ? scale[o] : 0, sh = mean ? shift[o] : 0;
    for (int k = 0; k < nsegs; k++) {
        const segment sg = segs[k];
        const int n = sg.tj1 - sg.tj0;
        float *y0 = rowbuf, *y1 = rowbuf + 2 * n + 16;
        const float *m = M + sg.at;
        // 8 tiles at a time, the last group's extra lanes (read past the segment) written past 2·n and never used.
        for (int tj = 0; tj < n; tj += 8) {
            __m256 w0[4], w1[4];
            for (int q = 0; q < 4; q++) {
                const __m256 m0 = _mm256_loadu_ps(m + (0 * 4 + q) * mstride + tj), m1 = _mm256_loadu_ps(m + (1 * 4 + q) * mstride + tj);
                const __m256 m2 = _mm256_loadu_ps(m + (2 * 4 + q) * mstride + tj), m3 = _mm256_loadu_ps(m + (3 * 4 + q) * mstride + tj);
                w0[q] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
                w1[q] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
            }
            // Then the bias, one addition after the transform.
            const __m256 a0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(w0[0], w0[1]), w0[2]), bv);
            const __m256 b0 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(w0[1], w0[2]), w0[3]), bv);
            const __m256 a1 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(w1[0], w1[1]), w1[2]), bv);
            const __m256 b1 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(w1[1], w1[2]), w1[3]), bv);
            // Interleave a and b: (a0 b0 a1 b1 … a7 b7).
            const __m256 lo0 = _mm256_unpacklo_ps(a0, b0), hi0 = _mm256_unpackhi_ps(a0, b0);
            const __m256 lo1 = _mm256_unpacklo_ps(a1, b1), hi1 = _mm256_unpackhi_ps(a1, b1);
            _mm256_storeu_ps(y0 + 2 * tj, _mm256_permute2f128_ps(lo0, hi0, 0x20));
            _mm256_storeu_ps(y0 + 2 * tj + 8, _mm256_permute2f128_ps(lo0, hi0, 0x31));
            _mm256_storeu_ps(y1 + 2 * tj, _mm256_permute2f128_ps(lo1, hi1, 0x20));
            _mm256_storeu_ps(y1 + 2 * tj + 8, _mm256_permute2f128_ps(lo1, hi1, 0x31));
        }
        const int j0 = 2 * sg.tj0, cols = (2 * sg.tj1 < g->OW ? 2 * sg.tj1 : g->OW) - j0;
        float *ys = y + sg.s * sampleStride;
        for (int d = 0; d < 2 && 2 * sg.ti + d < g->OH; d++) {
            const float *src = d ? y1 : y0;
            float *dst = ys + (long)(2 * sg.ti + d) * g->OW + j0;
            finish_row(src, dst, cols, mean != NULL, mu, sc, sh, relu, ceiling);
        }
    }
}

#define UNROLLED _Pragma("clang loop unroll(full)")
// M[r][t] for MR output channels and 16·NV tiles from t0: over channels c0 … c1 − 1 of
// U (u[c][r]) and V (v[c][t], rows `vstride` apart); the first channel block stores,
// later ones add their sum.
static inline __attribute__((always_inline, target("avx512f")))
void gemm_tile512(const int NV, const float *u, const float *v, long vstride, int c0, int c1, float *m, long mstride) {
    __m512 acc[MR][2];
    UNROLLED for (int r = 0; r < MR; r++) UNROLLED for (int x = 0; x < NV; x++) acc[r][x] = _mm512_setzero_ps();
    for (int c = c0; c < c1; c++) {
        __m512 vv[2];
        UNROLLED for (int x = 0; x < NV; x++) vv[x] = _mm512_loadu_ps(v + (long)c * vstride + 16 * x);
        UNROLLED for (int r = 0; r < MR; r++) {
            const __m512 ur = _mm512_set1_ps(u[(long)c * MR + r]);
            UNROLLED for (int x = 0; x < NV; x++) acc[r][x] = _mm512_fmadd_ps(ur, vv[x], acc[r][x]);
        }
    }
    UNROLLED for (int r = 0; r < MR; r++) UNROLLED for (int x = 0; x < NV; x++) {
        float *dst = m + r * mstride + 16 * x;
        _mm512_storeu_ps(dst, c0 == 0 ? acc[r][x] : _mm512_add_ps(_mm512_loadu_ps(dst), acc[r][x]));
    }
}

__attribute__((target("avx512f"), noinline))
static void gemm512_32(const float *u, const float *v, long vstride, int c0, int c1, float *m, long mstride) {
    gemm_tile512(2, u, v, vstride, c0, c1, m, mstride);
}
__attribute__((target("avx512f"), noinline))
static void gemm512_16(const float *u, const float *v, long vstride, int c0, int c1, float *m, long mstride) {
    gemm_tile512(1, u, v, vstride, c0, c1, m, mstride);
}

// AVX2: 4 channels × 16 tiles (two halves of 8), the same chain per output.
static inline __attribute__((always_inline, target("avx2,fma")))
void gemm_tile256(const float *u, const float *v, long vstride, int c0, int c1, float *m, long mstride) {
    for (int r0 = 0; r0 < MR; r0 += 4) {
        __m256 acc[4][2];
        UNROLLED for (int r = 0; r < 4; r++) { acc[r][0] = _mm256_setzero_ps(); acc[r][1] = _mm256_setzero_ps(); }
        for (int c = c0; c < c1; c++) {
            const __m256 v0 = _mm256_loadu_ps(v + (long)c * vstride), v1 = _mm256_loadu_ps(v + (long)c * vstride + 8);
            UNROLLED for (int r = 0; r < 4; r++) {
                const __m256 ur = _mm256_broadcast_ss(u + (long)c * MR + r0 + r);
                acc[r][0] = _mm256_fmadd_ps(ur, v0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(ur, v1, acc[r][1]);
            }
        }
        UNROLLED for (int r = 0; r < 4; r++) UNROLLED for (int x = 0; x < 2; x++) {
            float *dst = m + (r0 + r) * mstride + 8 * x;
            _mm256_storeu_ps(dst, c0 == 0 ? acc[r][x] : _mm256_add_ps(_mm256_loadu_ps(dst), acc[r][x]));
        }
    }
}

// The 16 sums of a block: M[ξ][o][t] = Σ_c U[ξ][o][c] V[ξ][c][t].
// Not inlined, so that profiles tell the sums from the transforms (Benchmarks/time_shares.py).
__attribute__((target("avx2,fma"), noinline))
static void block_gemms(int level, const wgeometry *g, int C, const float *packed, const float *V, float *M) {
    const long per = g->Opad * C, vx = (long)C * g->VS, mx = g->Opad * g->TB;
    const long blocks = g->Opad / MR;
    for (int x = 0; x < 16; x++)
        for (long b = 0; b < blocks; b++) {
            const float *u = packed + x * per + b * C * MR;
            for (int c0 = 0; c0 < C; c0 += CHANNEL_BLOCK) {
                const int c1 = c0 + CHANNEL_BLOCK < C ? c0 + CHANNEL_BLOCK : C;
                for (long t = 0; t < g->TB;) {
                    const float *v = V + x * vx + t;
                    float *m = M + x * mx + b * MR * g->TB + t;
                    if (level < 2) { gemm_tile256(u, v, g->VS, c0, c1, m, g->TB); t += 16; }
                    else if (t + 32 <= g->TB) { gemm512_32(u, v, g->VS, c0, c1, m, g->TB); t += 32; }
                    else { gemm512_16(u, v, g->VS, c0, c1, m, g->TB); t += 16; }
                }
            }
        }
}

// Compiled for AVX2 (which every level has) so that the transforms vectorize.
__attribute__((target("avx2,fma")))
static void winograd_conv(int level, const float *x, const float *mask, int samples, int C, int H, int W, const float *packed,
                          const float *bias, int outputs, int pad, const float *mean, const float *scale, const float *shift, int relu, float ceiling,
                          float *scratch, float *y) {
    const wgeometry g = forward_geometry(outputs, C, H, W, pad);
    const long hc = halves_count(&g, C);
    float *V = scratch + g.slots * hc, *M = V + 16L * C * g.VS;
    segment *segs = (segment *)(((uintptr_t)(M + 16L * g.Opad * g.TB + 16) + 7) & ~(uintptr_t)7);
    float *halves[64];
    int loaded[64];
    for (int i = 0; i < g.slots; i++) { halves[i] = scratch + i * hc; loaded[i] = -1; }
    // The two output rows of a segment reuse the front of V once the block's sums are done.
    float *rowbuf = V;
    const long outPlane = (long)g.OH * g.OW, total = samples * g.T;
    for (long t0 = 0; t0 < total; t0 += g.TB) {
        const long t1 = t0 + g.TB < total ? t0 + g.TB : total;
        const int nsegs = segments_of(&g, t0, t1, segs);
        load_block_samples(&g, segs, nsegs, x, mask, C, H, W, pad, halves, loaded);
        transform_input(&g, C, halves, segs, nsegs, t1 - t0, V);
        block_gemms(level, &g, C, packed, V, M);
        for (int o = 0; o < outputs; o++)
            transform_output(&g, M + (long)o * g.TB, g.Opad * g.TB, o, segs, nsegs, bias, mean, scale, shift, relu, ceiling,
                             y + o * outPlane, (long)outputs * outPlane, rowbuf);
    }
}
#endif

void tlc_winograd_conv(int level, const float *x, const float *mask, int samples, int C, int H, int W, const float *packed,
                       const float *bias, int outputs, int pad, const float *mean, const float *scale, const float *shift, int relu, float ceiling,
                       float *scratch, float *y) {
#ifdef TLC_X86
    winograd_conv(level, x, mask, samples, C, H, W, packed, bias, outputs, pad, mean, scale, shift, relu, ceiling, scratch, y);
#else
    (void)level; (void)x; (void)mask; (void)samples; (void)C; (void)H; (void)W; (void)packed; (void)bias; (void)outputs;
    (void)pad; (void)mean; (void)scale; (void)shift; (void)relu; (void)ceiling; (void)scratch; (void)y;
#endif
}
