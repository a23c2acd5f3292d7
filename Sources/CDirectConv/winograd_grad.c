// CDirectConv's Winograd F(2×2, 3×3) weight gradient (private to CDirectConv; see
// cdirectconv.h for the API and winograd.h for what this file owns). The forward pass is
// y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A per 2×2 tile, so Σ dy·y = Σ (A dy Aᵀ) ⊙ (G g Gᵀ) ⊙ (Bᵀ d B),
// and the gradient of the 3×3 kernel is
//
//     dW = Gᵀ [Σ over the tiles of all samples (A dy Aᵀ) ⊙ (Bᵀ d B)] G
//
// with d the tile's 4×4 window of the padded input (the forward pass's input transform) and
// dy its 2×2 output gradient. The 16 sums M[ξ][c][o] = Σ_t V[ξ][t][c] · U[ξ][t][o] are 16
// GEMMs over the tiles: 16 multiply-adds per 4 positions, channel and output instead of 36.
// (A's last row is negated here, which G's last row undoes exactly.) Like the forward pass,
// the transforms run on vectors of channels: x channels-last (winograd_tiles.h), and each
// segment's two rows of dy transposed channels-last.
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
    return wgeometry_of(H, W, pad, 2, GRAD_TB, (outputs + OV - 1) / OV * OV);
}

// The scratch, in floats (each part rounded up to 16 so that every part starts on a cache line).
typedef struct { long samples, sample, V, U, M, rows, rowsStride, segs; } grad_layout;

static long up16(long n) { return (n + 15) / 16 * 16; }

static grad_layout grad_layout_of(const wgeometry *g, int C) {
    grad_layout l;
    const int Cp = (int)up16(C);
    l.sample = channels_last_count(g, Cp);
    l.samples = g->slots * l.sample;                   // the samples channels-last
    l.V = 16L * xi_stride(g->TB * Cp);                           // V[ξ][t][c]
    l.U = 16L * xi_stride(g->TB * g->Opad);                      // U[ξ][t][o]
    l.M = 16L * xi_stride((long)Cp * g->Opad);                         // the sums, [ξ][c][o]
    l.rowsStride = ((2L * g->TW + 7) / 8 * 8) * g->Opad;
    l.rows = 2 * l.rowsStride;                         // one segment's two rows of dy, channels-last
    l.segs = up16((segments_max(g) * (long)sizeof(segment) + 3) / 4 + 2);
    return l;
}

long tlc_winograd_grad_scratch_count(int outputs, int inputs, int H, int W, int pad) {
    const wgeometry g = grad_geometry(outputs, H, W, pad);
    const grad_layout l = grad_layout_of(&g, inputs);
    return l.samples + l.V + l.U + l.M + l.rows + l.segs + 16;
}

#ifdef TLC_X86
// A segment's two rows of dy (zero past the plane), through `mask` (when not NULL: a value
// counts only where mask > 0), channels-last into `rows` (row d at rows + d·rowsStride,
// column j at + j·Opad; zero for the outputs O … Opad − 1): 8 × 8 transposes.
static inline __attribute__((always_inline, target("avx2")))
void planes_to_rows(const wgeometry *g, const float *dy, const float *mask, int O, const segment *sg, float *rows, long rowsStride) {
    const long Op = g->Opad, plane = (long)g->OH * g->OW;
    const int j0 = 2 * sg->tj0, cols = (2 * sg->tj1 < g->OW ? 2 * sg->tj1 : g->OW) - j0, wide = 2 * (sg->tj1 - sg->tj0);
    const __m256 zero = _mm256_setzero_ps();
    for (int d = 0; d < 2; d++) {
        float *dst = rows + d * rowsStride;
        const int r = 2 * sg->ti + d;
        if (r >= g->OH) {
            memset(dst, 0, (size_t)(wide * Op) * sizeof(float));
            continue;
        }
        const long at = ((long)sg->s * O) * plane + (long)r * g->OW + j0;
        for (int o0 = 0; o0 < Op; o0 += 8)
            for (int c0 = 0; c0 < wide; c0 += 8) {
                const int nc = cols - c0 < 0 ? 0 : cols - c0 < 8 ? cols - c0 : 8;
                const __m256i lanes = first_lanes(nc);
                __m256 v[8];
                for (int k = 0; k < 8; k++) {
                    if (o0 + k >= O) { v[k] = zero; continue; }
                    const float *p = dy + at + (long)(o0 + k) * plane + c0;
                    v[k] = nc == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lanes);
                    if (mask) {
                        const float *m = mask + (p - dy);
                        const __m256 mk = nc == 8 ? _mm256_loadu_ps(m) : _mm256_maskload_ps(m, lanes);
                        v[k] = _mm256_and_ps(v[k], _mm256_cmp_ps(mk, zero, _CMP_GT_OQ));
                    }
                }
                transpose8(v);
                for (int k = 0; k < 8; k++) _mm256_storeu_ps(dst + (long)(c0 + k) * Op + o0, v[k]);
            }
    }
}

// U[ξ][t][o] = (A dy Aᵀ)[ξ] of output channel o for the block's tiles in order (zero from
// `used` to TB, and for o from O to Opad), with dy through `mask`. With A's last row negated,
// a tile's (p q; r s) gives rows (p, q), (p + r, q + s), (p − r, q − s), (r, s), and each row
// (a, b) gives (a, a + b, a − b, b). Vectors of 8 output channels.
static inline __attribute__((always_inline, target("avx2")))
void transform_dy(const wgeometry *g, const float *dy, const float *mask, int O, const segment *segs, int nsegs, long used,
                  float *U, float *rows, long rowsStride) {
    const long Op = g->Opad, ux = xi_stride(g->TB * Op);
    for (int k = 0; k < nsegs; k++) {
        const segment sg = segs[k];
        planes_to_rows(g, dy, mask, O, &sg, rows, rowsStride);
        for (int j = 0; j < sg.tj1 - sg.tj0; j++) {
            const float *r0 = rows + 2L * j * Op, *r1 = r0 + rowsStride;
            float *out = U + (sg.at + j) * Op;
            for (long o = 0; o < Op; o += 8) {
                const __m256 p = _mm256_loadu_ps(r0 + o), q = _mm256_loadu_ps(r0 + Op + o);
                const __m256 r = _mm256_loadu_ps(r1 + o), s = _mm256_loadu_ps(r1 + Op + o);
                const __m256 ra[4] = {p, _mm256_add_ps(p, r), _mm256_sub_ps(p, r), r};
                const __m256 rb[4] = {q, _mm256_add_ps(q, s), _mm256_sub_ps(q, s), s};
                for (int x = 0; x < 4; x++) {
                    _mm256_storeu_ps(out + (4 * x + 0) * ux + o, ra[x]);
                    _mm256_storeu_ps(out + (4 * x + 1) * ux + o, _mm256_add_ps(ra[x], rb[x]));
                    _mm256_storeu_ps(out + (4 * x + 2) * ux + o, _mm256_sub_ps(ra[x], rb[x]));
                    _mm256_storeu_ps(out + (4 * x + 3) * ux + o, rb[x]);
                }
            }
        }
    }
    for (int x = 0; x < 16; x++) memset(U + x * ux + used * Op, 0, (size_t)((g->TB - used) * Op) * sizeof(float));
}

#define UNROLLED _Pragma("clang loop unroll(full)")
// M[r][o] for CR channel rows (v[t·vstride + r]) × 16·NV outputs (u[t][o], rows `ustride` apart), one
// chain over the block's TB tiles per output; the first block stores, later ones add their sum.
static inline __attribute__((always_inline, target("avx512f")))
void grad_tile512(const int NV, const float *v, long vstride, const float *u, long ustride, long TB, float *m, long mstride, int first) {
    __m512 acc[CR][2];
    UNROLLED for (int r = 0; r < CR; r++) UNROLLED for (int x = 0; x < NV; x++) acc[r][x] = _mm512_setzero_ps();
    for (long t = 0; t < TB; t++) {
        __m512 uu[2];
        UNROLLED for (int x = 0; x < NV; x++) uu[x] = _mm512_loadu_ps(u + t * ustride + 16 * x);
        UNROLLED for (int r = 0; r < CR; r++) {
            const __m512 vr = _mm512_set1_ps(v[t * vstride + r]);
            UNROLLED for (int x = 0; x < NV; x++) acc[r][x] = _mm512_fmadd_ps(vr, uu[x], acc[r][x]);
        }
    }
    UNROLLED for (int r = 0; r < CR; r++) UNROLLED for (int x = 0; x < NV; x++) {
        float *dst = m + r * mstride + 16 * x;
        _mm512_storeu_ps(dst, first ? acc[r][x] : _mm512_add_ps(_mm512_loadu_ps(dst), acc[r][x]));
    }
}

__attribute__((target("avx512f"), noinline))
static void grad512_32(const float *v, long vstride, const float *u, long ustride, long TB, float *m, long mstride, int first) {
    grad_tile512(2, v, vstride, u, ustride, TB, m, mstride, first);
}
__attribute__((target("avx512f"), noinline))
static void grad512_16(const float *v, long vstride, const float *u, long ustride, long TB, float *m, long mstride, int first) {
    grad_tile512(1, v, vstride, u, ustride, TB, m, mstride, first);
}

// AVX2: 4 channel rows × 16 outputs (two halves of 8), the same chain per output.
__attribute__((target("avx2,fma"), noinline))
static void grad256(const float *v, long vstride, const float *u, long ustride, long TB, float *m, long mstride, int first) {
    __m256 acc[4][2];
    UNROLLED for (int r = 0; r < 4; r++) { acc[r][0] = _mm256_setzero_ps(); acc[r][1] = _mm256_setzero_ps(); }
    for (long t = 0; t < TB; t++) {
        const __m256 u0 = _mm256_loadu_ps(u + t * ustride), u1 = _mm256_loadu_ps(u + t * ustride + 8);
        UNROLLED for (int r = 0; r < 4; r++) {
            const __m256 vr = _mm256_broadcast_ss(v + t * vstride + r);
            acc[r][0] = _mm256_fmadd_ps(vr, u0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(vr, u1, acc[r][1]);
        }
    }
    UNROLLED for (int r = 0; r < 4; r++) UNROLLED for (int x = 0; x < 2; x++) {
        float *dst = m + r * mstride + 8 * x;
        _mm256_storeu_ps(dst, first ? acc[r][x] : _mm256_add_ps(_mm256_loadu_ps(dst), acc[r][x]));
    }
}

// The 16 sums of a block: M[ξ][c][o] (+)= Σ_t V[ξ][t][c] U[ξ][t][o]. Channel rows past C
// are zero (their sums land in M's padding rows, never read).
// Not inlined, so that profiles tell the sums from the transforms (Benchmarks/time_shares.py).
__attribute__((target("avx2,fma"), noinline))
static void block_gemms(int level, const wgeometry *g, int Cp, const float *V, const float *U, float *M, int first) {
    const long Op = g->Opad, vx = xi_stride(g->TB * Cp), ux = xi_stride(g->TB * Op), mx = xi_stride((long)Cp * Op);
    for (int x = 0; x < 16; x++)
        for (long c0 = 0; c0 < Cp; c0 += CR) {
            const float *v = V + x * vx + c0, *u = U + x * ux;
            float *m = M + x * mx + c0 * Op;
            for (long o = 0; o < Op;) {
                if (level < 2) {
                    grad256(v, Cp, u + o, Op, g->TB, m + o, Op, first);
                    grad256(v + 4, Cp, u + o, Op, g->TB, m + 4 * Op + o, Op, first);
                    o += 16;
                } else if (o + 32 <= Op) { grad512_32(v, Cp, u + o, Op, g->TB, m + o, Op, first); o += 32; }
                else { grad512_16(v, Cp, u + o, Op, g->TB, m + o, Op, first); o += 16; }
            }
        }
}

// dW[o][c] = Gᵀ M[·][c][o] G (G's last row negated), 8 outputs at a time: t = Gᵀ M, then t G.
static inline __attribute__((always_inline, target("avx2")))
void transform_weights(const wgeometry *g, int C, int Cp, int O, const float *M, float *dW) {
    const long mx = xi_stride((long)Cp * g->Opad);
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
    const grad_layout l = grad_layout_of(&g, C);
    const int Cp = (int)up16(C);
    // Every part on a cache line: the scratch starts on one (the engine's workspaces do) or is moved to one.
    float *base = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *V = base + l.samples, *U = V + l.V, *M = U + l.U, *rows = M + l.M;
    segment *segs = (segment *)(rows + l.rows);
    float *slots[64];
    int loaded[64];
    for (int i = 0; i < g.slots; i++) { slots[i] = base + i * l.sample; loaded[i] = -1; }
    const long total = samples * g.T;
    for (long t0 = 0; t0 < total; t0 += g.TB) {
        const long t1 = t0 + g.TB < total ? t0 + g.TB : total;
        const int nsegs = segments_of(&g, t0, t1, segs);
        winograd_load_samples(&g, segs, nsegs, x, NULL, C, Cp, H, W, pad, slots, loaded);
        winograd_transform_input(level, &g, Cp, slots, segs, nsegs, t1 - t0, g.TB, V);
        transform_dy(&g, dy, mask, O, segs, nsegs, t1 - t0, U, rows, l.rowsStride);
        block_gemms(level, &g, Cp, V, U, M, t0 == 0);
    }
    if (total == 0) memset(M, 0, (size_t)l.M * sizeof(float));
    transform_weights(&g, C, Cp, O, M, dW);
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
