// CDirectConv's Winograd F(2×2, 3×3) weight gradient (private to CDirectConv; see
// cdirectconv.h for the API and winograd.h for what this file owns). The forward pass is
// y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A per 2×2 tile, so Σ dy·y = Σ (A dy Aᵀ) ⊙ (G g Gᵀ) ⊙ (Bᵀ d B),
// and the gradient of the 3×3 kernel is
//
//     dW = Gᵀ [Σ over the tiles of all samples (A dy Aᵀ) ⊙ (Bᵀ d B)] G
//
// with d the tile's 4×4 window of the padded input (the forward pass's input transform) and
// dy its 2×2 output gradient. The 16 sums M[ξ][c][o] = Σ_t V[ξ][c][t] · U[ξ][t][o] are 16
// GEMMs over the tiles: 16 multiply-adds per 4 positions, channel and output instead of 36.
// (A's last row is negated here, which G's last row undoes exactly.)
//
// Bits: the transforms are adds, subtracts and halvings in one fixed order; each output of
// M is one fused multiply-add chain over a block's 128 tiles (in order), added to the
// blocks before it; the register tiles (8 channels × 32 outputs on AVX-512, 4 × 16 on AVX2)
// only change how many such chains run at once. AVX-512 and AVX2 give the same bits, and
// the blocks start at the part's first sample, so the thread count changes nothing.
#include "winograd.h"
#include "winograd_tiles.h"
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define TLC_X86 1
#endif

// The transforms must round as written.
#pragma clang fp contract(off)

// Tiles per block; channel rows per register tile; output channels padded to a multiple of 16.
enum { GRAD_TB = 128, CR = 8, OV = 16 };

static wgeometry grad_geometry(int outputs, int H, int W, int pad) {
    return wgeometry_of(H, W, pad, GRAD_TB, (outputs + OV - 1) / OV * OV);
}

// The scratch, in floats (each part rounded up to 16 so that every part starts on a cache line).
typedef struct { long halves, V, U, M, rows, stage, segs; } grad_layout;

static long up16(long n) { return (n + 15) / 16 * 16; }

static grad_layout grad_layout_of(const wgeometry *g, int C, int O) {
    grad_layout l;
    l.halves = up16(g->slots * halves_count(g, C));
    l.V = up16(16L * C * g->VS);                       // V[ξ][c][t], rows VS apart
    l.U = up16(16L * (g->TB + 8) * g->Opad);           // U[ξ][t][o], 8 rows of slack per ξ
    l.M = up16(16L * ((C + CR - 1) / CR * CR) * g->Opad);   // the sums, [ξ][c][o]
    l.rows = up16(2L * (2L * g->TW + 32));             // one segment's two rows of dy
    l.stage = up16(16L * 8 * (g->TW + 8));             // 8 channels' transforms of one segment
    l.segs = up16((segments_max(g) * (long)sizeof(segment) + 3) / 4 + 2);
    return l;
}

long tlc_winograd_grad_scratch_count(int outputs, int inputs, int H, int W, int pad) {
    const wgeometry g = grad_geometry(outputs, H, W, pad);
    const grad_layout l = grad_layout_of(&g, inputs, outputs);
    return l.halves + l.V + l.U + l.M + l.rows + l.stage + l.segs;
}

#ifdef TLC_X86
// r[i] ← column i of the 8 × 8 block whose rows are r[0 … 7].
static inline __attribute__((always_inline, target("avx2"))) void transpose8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// The even and odd entries of 16 consecutive floats, each in order (as split_sample splits).
static inline __attribute__((always_inline, target("avx2"))) void deinterleave16(const float *p, __m256 *even, __m256 *odd) {
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// U[ξ][t][o] = (A dy Aᵀ)[ξ] of output channel o for the block's tiles in order (zero from
// `used` to TB, and for o from O to Opad), with dy through `mask` (when not NULL: a value
// counts only where mask > 0). With A's last row negated, a tile's (p q; r s) gives rows
// (p, q), (p + r, q + s), (p − r, q − s), (r, s), and each row (a, b) gives (a, a + b, a − b, b).
// Eight channels at a time: each segment's transforms as [ξ][channel][tile] in `stage`, then
// transposed 8 × 8 into U's rows.
static inline __attribute__((always_inline, target("avx2")))
void transform_dy(const wgeometry *g, const float *dy, const float *mask, int O, const segment *segs, int nsegs, long used,
                  float *U, float *rows, float *stage) {
    const long plane = (long)g->OH * g->OW, rowStride = 2L * g->TW + 32, stageRow = g->TW + 8, ux = (g->TB + 8) * g->Opad;
    for (int o0 = 0; o0 < g->Opad; o0 += 8)
        for (int k = 0; k < nsegs; k++) {
            const segment sg = segs[k];
            const int n = sg.tj1 - sg.tj0, c0 = 2 * sg.tj0, wide = 2 * ((n + 7) / 8 * 8);
            const int cols = (2 * sg.tj1 < g->OW ? 2 * sg.tj1 : g->OW) - c0;
            for (int i = 0; i < 8; i++) {
                float *st = stage + i * stageRow;
                if (o0 + i >= O) {
                    for (int x = 0; x < 16; x++) memset(st + x * 8 * stageRow, 0, (size_t)wide / 2 * sizeof(float));
                    continue;
                }
                const long at = ((long)sg.s * O + o0 + i) * plane;
                // The tile row's two rows of dy, masked, zero past the plane.
                for (int d = 0; d < 2; d++) {
                    float *dst = rows + d * rowStride;
                    const int r = 2 * sg.ti + d;
                    int filled = 0;
                    if (r < g->OH) {
                        const float *src = dy + at + (long)r * g->OW + c0;
                        if (mask) masked_copy(dst, src, mask + at + (long)r * g->OW + c0, cols);
                        else memcpy(dst, src, (size_t)cols * sizeof(float));
                        filled = cols;
                    }
                    memset(dst + filled, 0, (size_t)(wide - filled) * sizeof(float));
                }
                for (int j = 0; j < n; j += 8) {
                    __m256 p, q, r, s;
                    deinterleave16(rows + 2 * j, &p, &q);
                    deinterleave16(rows + rowStride + 2 * j, &r, &s);
                    const __m256 ra[4] = {p, _mm256_add_ps(p, r), _mm256_sub_ps(p, r), r};
                    const __m256 rb[4] = {q, _mm256_add_ps(q, s), _mm256_sub_ps(q, s), s};
                    for (int x = 0; x < 4; x++) {
                        float *dst = st + (long)(4 * x) * 8 * stageRow + j;
                        _mm256_storeu_ps(dst, ra[x]);
                        _mm256_storeu_ps(dst + 8 * stageRow, _mm256_add_ps(ra[x], rb[x]));
                        _mm256_storeu_ps(dst + 16 * stageRow, _mm256_sub_ps(ra[x], rb[x]));
                        _mm256_storeu_ps(dst + 24 * stageRow, rb[x]);
                    }
                }
            }
            // A last group of fewer than 8 tiles writes rows past the segment: the next
            // segment (or the zeros after the block's last tile, or U's 8 rows of slack) overwrites them.
            for (int x = 0; x < 16; x++)
                for (int j = 0; j < n; j += 8) {
                    __m256 r[8];
                    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(stage + (x * 8 + i) * stageRow + j);
                    transpose8(r);
                    float *dst = U + x * ux + (sg.at + j) * g->Opad + o0;
                    for (int jj = 0; jj < 8; jj++) _mm256_storeu_ps(dst + jj * g->Opad, r[jj]);
                }
        }
    for (int x = 0; x < 16; x++)
        for (long t = used; t < g->TB; t++) memset(U + x * ux + t * g->Opad, 0, (size_t)g->Opad * sizeof(float));
}

#define UNROLLED _Pragma("clang loop unroll(full)")
// M[r][o] for CR channel rows (v[r][t]) × 16·NV outputs (u[t][o], rows `ustride` apart), one
// chain over the block's TB tiles per output; the first block stores, later ones add their sum.
static inline __attribute__((always_inline, target("avx512f")))
void grad_tile512(const int NV, const float *const *v, const float *u, long ustride, long TB, float *m, long mstride, int first) {
    __m512 acc[CR][2];
    UNROLLED for (int r = 0; r < CR; r++) UNROLLED for (int x = 0; x < NV; x++) acc[r][x] = _mm512_setzero_ps();
    for (long t = 0; t < TB; t++) {
        __m512 uu[2];
        UNROLLED for (int x = 0; x < NV; x++) uu[x] = _mm512_loadu_ps(u + t * ustride + 16 * x);
        UNROLLED for (int r = 0; r < CR; r++) {
            const __m512 vr = _mm512_set1_ps(v[r][t]);
            UNROLLED for (int x = 0; x < NV; x++) acc[r][x] = _mm512_fmadd_ps(vr, uu[x], acc[r][x]);
        }
    }
    UNROLLED for (int r = 0; r < CR; r++) UNROLLED for (int x = 0; x < NV; x++) {
        float *dst = m + r * mstride + 16 * x;
        _mm512_storeu_ps(dst, first ? acc[r][x] : _mm512_add_ps(_mm512_loadu_ps(dst), acc[r][x]));
    }
}

__attribute__((target("avx512f"), noinline))
static void grad512_32(const float *const *v, const float *u, long ustride, long TB, float *m, long mstride, int first) {
    grad_tile512(2, v, u, ustride, TB, m, mstride, first);
}
__attribute__((target("avx512f"), noinline))
static void grad512_16(const float *const *v, const float *u, long ustride, long TB, float *m, long mstride, int first) {
    grad_tile512(1, v, u, ustride, TB, m, mstride, first);
}

// AVX2: 4 channel rows × 16 outputs (two halves of 8), the same chain per output.
__attribute__((target("avx2,fma"), noinline))
static void grad256(const float *const *v, const float *u, long ustride, long TB, float *m, long mstride, int first) {
    __m256 acc[4][2];
    UNROLLED for (int r = 0; r < 4; r++) { acc[r][0] = _mm256_setzero_ps(); acc[r][1] = _mm256_setzero_ps(); }
    for (long t = 0; t < TB; t++) {
        const __m256 u0 = _mm256_loadu_ps(u + t * ustride), u1 = _mm256_loadu_ps(u + t * ustride + 8);
        UNROLLED for (int r = 0; r < 4; r++) {
            const __m256 vr = _mm256_broadcast_ss(v[r] + t);
            acc[r][0] = _mm256_fmadd_ps(vr, u0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(vr, u1, acc[r][1]);
        }
    }
    UNROLLED for (int r = 0; r < 4; r++) UNROLLED for (int x = 0; x < 2; x++) {
        float *dst = m + r * mstride + 8 * x;
        _mm256_storeu_ps(dst, first ? acc[r][x] : _mm256_add_ps(_mm256_loadu_ps(dst), acc[r][x]));
    }
}

// The 16 sums of a block: M[ξ][c][o] (+)= Σ_t V[ξ][c][t] U[ξ][t][o]. Channel rows past C
// repeat the last one (their sums land in M's padding rows, never read).
// Not inlined, so that profiles tell the sums from the transforms (Benchmarks/time_shares.py).
__attribute__((target("avx2,fma"), noinline))
static void block_gemms(int level, const wgeometry *g, int C, const float *V, const float *U, float *M, int first) {
    const long Cr = (C + CR - 1) / CR * CR, vx = (long)C * g->VS, ux = (g->TB + 8) * g->Opad, mx = Cr * g->Opad;
    for (int x = 0; x < 16; x++)
        for (long c0 = 0; c0 < Cr; c0 += CR) {
            const float *rows[CR];
            for (int r = 0; r < CR; r++) rows[r] = V + x * vx + (c0 + r < C ? c0 + r : C - 1) * g->VS;
            const float *u = U + x * ux;
            float *m = M + x * mx + c0 * g->Opad;
            for (long o = 0; o < g->Opad;) {
                if (level < 2) {
                    grad256(rows, u + o, g->Opad, g->TB, m + o, g->Opad, first);
                    grad256(rows + 4, u + o, g->Opad, g->TB, m + 4 * g->Opad + o, g->Opad, first);
                    o += 16;
                } else if (o + 32 <= g->Opad) { grad512_32(rows, u + o, g->Opad, g->TB, m + o, g->Opad, first); o += 32; }
                else { grad512_16(rows, u + o, g->Opad, g->TB, m + o, g->Opad, first); o += 16; }
            }
        }
}

// dW[o][c] = Gᵀ M[·][c][o] G (G's last row negated), 8 outputs at a time: t = Gᵀ M, then t G.
static inline __attribute__((always_inline, target("avx2")))
void transform_weights(const wgeometry *g, int C, int O, const float *M, float *dW) {
    const long Cr = (C + CR - 1) / CR * CR, mx = Cr * g->Opad;
    const __m256 half = _mm256_set1_ps(0.5f);
    for (long c = 0; c < C; c++)
        for (long o0 = 0; o0 < O; o0 += 8) {
            __m256 m[16], t[3][4];
            for (int x = 0; x < 16; x++) m[x] = _mm256_loadu_ps(M + x * mx + c * g->Opad + o0);
            for (int b = 0; b < 4; b++) {
                const __m256 sum = _mm256_mul_ps(_mm256_add_ps(m[4 + b], m[8 + b]), half);
                t[0][b] = _mm256_add_ps(m[b], sum);
                t[1][b] = _mm256_mul_ps(_mm256_sub_ps(m[4 + b], m[8 + b]), half);
                t[2][b] = _mm256_sub_ps(sum, m[12 + b]);
            }
            float out[9][8];
            for (int i = 0; i < 3; i++) {
                const __m256 sum = _mm256_mul_ps(_mm256_add_ps(t[i][1], t[i][2]), half);
                _mm256_storeu_ps(out[3 * i], _mm256_add_ps(t[i][0], sum));
                _mm256_storeu_ps(out[3 * i + 1], _mm256_mul_ps(_mm256_sub_ps(t[i][1], t[i][2]), half));
                _mm256_storeu_ps(out[3 * i + 2], _mm256_sub_ps(sum, t[i][3]));
            }
            for (int l = 0; l < 8 && o0 + l < O; l++)
                for (int k = 0; k < 9; k++) dW[((o0 + l) * C + c) * 9 + k] = out[k][l];
        }
}

// db[o] = Σ over the samples and positions of dy (through the mask): 16 lanes in order (two
// vectors of 8), then reduce16_lanes.
static inline __attribute__((always_inline, target("avx2")))
void bias_sums(const float *dy, const float *mask, int samples, int O, long plane, float *db) {
    const __m256 zero = _mm256_setzero_ps();
    for (int o = 0; o < O; o++) {
        __m256 lo = zero, hi = zero;
        float lanes[16];
        long p = 0;
        for (long s = 0; s < samples; s++) {
            const long at = ((long)s * O + o) * plane;
            const float *row = dy + at, *m = mask ? mask + at : NULL;
            for (p = 0; p + 16 <= plane; p += 16) {
                __m256 a = _mm256_loadu_ps(row + p), b = _mm256_loadu_ps(row + p + 8);
                if (m) {
                    a = _mm256_and_ps(a, _mm256_cmp_ps(_mm256_loadu_ps(m + p), zero, _CMP_GT_OQ));
                    b = _mm256_and_ps(b, _mm256_cmp_ps(_mm256_loadu_ps(m + p + 8), zero, _CMP_GT_OQ));
                }
                lo = _mm256_add_ps(lo, a); hi = _mm256_add_ps(hi, b);
            }
            // The plane's last positions go to the first lanes.
            _mm256_storeu_ps(lanes, lo); _mm256_storeu_ps(lanes + 8, hi);
            for (int l = 0; p + l < plane; l++) lanes[l] += m ? (m[p + l] > 0 ? row[p + l] : 0.0f) : row[p + l];
            lo = _mm256_loadu_ps(lanes); hi = _mm256_loadu_ps(lanes + 8);
        }
        _mm256_storeu_ps(lanes, lo); _mm256_storeu_ps(lanes + 8, hi);
        db[o] = reduce16_lanes(lanes);
    }
}

// Compiled for AVX2 (which every level has) so that the transforms vectorize.
__attribute__((target("avx2,fma")))
static void winograd_weight_grad(int level, const float *x, const float *dy, const float *mask, int samples, int C, int H, int W,
                                 int O, int pad, float *scratch, float *dW, float *db) {
    const wgeometry g = grad_geometry(O, H, W, pad);
    const grad_layout l = grad_layout_of(&g, C, O);
    float *V = scratch + l.halves, *U = V + l.V, *M = U + l.U, *rows = M + l.M, *stage = rows + l.rows;
    segment *segs = (segment *)(((uintptr_t)(stage + l.stage) + 7) & ~(uintptr_t)7);
    float *halves[64];
    int loaded[64];
    for (int i = 0; i < g.slots; i++) { halves[i] = scratch + i * halves_count(&g, C); loaded[i] = -1; }
    const long total = samples * g.T;
    for (long t0 = 0; t0 < total; t0 += g.TB) {
        const long t1 = t0 + g.TB < total ? t0 + g.TB : total;
        const int nsegs = segments_of(&g, t0, t1, segs);
        load_block_samples(&g, segs, nsegs, x, NULL, C, H, W, pad, halves, loaded);
        transform_input(&g, C, halves, segs, nsegs, t1 - t0, V);
        transform_dy(&g, dy, mask, O, segs, nsegs, t1 - t0, U, rows, stage);
        block_gemms(level, &g, C, V, U, M, t0 == 0);
    }
    if (total == 0) memset(M, 0, (size_t)l.M * sizeof(float));
    transform_weights(&g, C, O, M, dW);
    if (db) bias_sums(dy, mask, samples, O, (long)g.OH * g.OW, db);
}
#endif

void tlc_winograd_weight_grad(int level, const float *x, const float *dy, const float *mask, int samples, int C, int H, int W,
                              int outputs, int pad, float *scratch, float *dW, float *db) {
#ifdef TLC_X86
    winograd_weight_grad(level, x, dy, mask, samples, C, H, W, outputs, pad, scratch, dW, db);
#else
    (void)level; (void)x; (void)dy; (void)mask; (void)samples; (void)C; (void)H; (void)W; (void)outputs; (void)pad;
    (void)scratch; (void)dW; (void)db;
#endif
}
