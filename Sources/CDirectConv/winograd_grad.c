// CDirectConv's Winograd F(m×m, 3×3) weight gradient (m = 2 or 4, the forward pass's tiles),
// and the backward pass that runs dx (winograd.c's convolution, in the same tiles) from the
// same channels-last copies of dy, which may be built from a pooled gradient (private to
// CDirectConv; see cdirectconv.h for the API and winograd.h for what this file owns). The
// forward pass is y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A per m×m tile, so Σ dy·y = Σ (A dy Aᵀ) ⊙ (G g Gᵀ) ⊙ (Bᵀ d B),
// and the gradient of the 3×3 kernel is
//
//     dW = Gᵀ [Σ over the tiles of all samples (A dy Aᵀ) ⊙ (Bᵀ d B)] G
//
// with d the tile's (m + 2)² window of the padded input (the forward pass's input transform)
// and dy its m×m output gradient. The (m + 2)² sums M[ξ][c][o] = Σ_t V[ξ][t][c] · U[ξ][t][o]
// are GEMMs over the tiles: 16 multiply-adds per 4 positions, channel and output (m = 2) or
// 36 per 16 (m = 4) instead of 36 or 144. (For m = 2, A's last row is negated here, which
// G's last row undoes exactly.) In 4×4 tiles the float32 error against float64 is about
// 3.5× that of 2×2 ones in RMS (a numpy model of both, 7² to 56² planes, 32 to 128
// channels: 0.9–4.4e-6 of the gradient's norm, against 0.3–1.3e-6). Like the forward pass,
// the transforms run on vectors of channels: x and dy (through the mask) are copied
// channels-last sample by sample (winograd_tiles.h), and the bias gradient is summed from
// dy's copy while it is in cache. (Each segment's two rows of dy had been transposed from
// all output planes at once, and db summed from dy and the mask read again; with the copy of
// x reading its planes in order too, the cnn's training took about 13 % fewer CPU samples
// under perf on an Emerald Rapids Xeon, against the unchanged Winograd sums' samples.)
//
// Bits: the transforms are adds, subtracts, multiplications and fused multiply-adds by small
// constants in one fixed order; each output of M is one fused multiply-add chain over a
// block's tiles (up to 128, in order), added to the
// blocks before it; the register tiles (8 channels × 32 outputs on AVX-512, 4 × 16 on AVX2)
// only change how many such chains run at once. db is one chain per output over each
// sample's positions in order, the samples' sums added in order. AVX-512 and AVX2 give the
// same bits, and the blocks start at the part's first sample, so the thread count changes nothing.
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

// Tiles per block; channel rows per register tile; output channels padded to a multiple of 16; the most samples
// kept channels-last at once (dy_slots on the smallest planes Winograd takes, 7² in 4×4 tiles: 67).
enum { GRAD_TB = 128, CR = 8, OV = 16, MAX_SLOTS = 72 };

// Tiles of m×m outputs (2 or 4; m + 2 = a window's side, (m + 2)² sums).
static wgeometry grad_geometry(int m, int outputs, int H, int W, int pad) {
    return wgeometry_of(H, W, pad, m, GRAD_TB, (outputs + OV - 1) / OV * OV);
}
static int planes_of(const wgeometry *g) { return (g->m + 2) * (g->m + 2); }

// The scratch, in floats (each part rounded up to 16 so that every part starts on a cache line).
typedef struct { long samples, sample, dySamples, dySample, V, U, M, sums, segs; } grad_layout;

static long up16(long n) { return (n + 15) / 16 * 16; }

// Output gradients kept channels-last: what one block touches (⌈TB / T⌉ + 1 samples) while dx
// lags behind by less than one of its blocks and one sample.
static int dy_slots(const wgeometry *g) { return (int)((GRAD_TB + WINOGRAD_MAX_TB + g->T - 1) / g->T) + 2; }

static grad_layout grad_layout_of(const wgeometry *g, int C) {
    grad_layout l;
    const int Cp = (int)up16(C);
    l.sample = channels_last_count(g, Cp);
    l.samples = g->slots * l.sample;                   // the samples channels-last
    l.dySample = channels_last_count(g, (int)g->Opad);
    l.dySamples = dy_slots(g) * l.dySample;            // their output gradients channels-last, padded by 1 (dx reads them too)
    const long planes = planes_of(g);
    l.V = planes * xi_stride(g->TB * Cp);                        // V[ξ][t][c]
    l.U = planes * xi_stride(g->TB * g->Opad);                   // U[ξ][t][o]
    l.M = planes * xi_stride((long)Cp * g->Opad);                // the sums, [ξ][c][o]
    l.sums = up16(g->Opad);                            // one sample's sums of dy (the bias gradient)
    l.segs = up16((segments_max(g) * (long)sizeof(segment) + 3) / 4 + 2);
    return l;
}

long tlc_winograd_grad_scratch_count(int m, int outputs, int inputs, int H, int W, int pad) {
    const wgeometry g = grad_geometry(m, outputs, H, W, pad);
    const grad_layout l = grad_layout_of(&g, inputs);
    return l.samples + l.dySamples + l.V + l.U + l.M + l.sums + l.segs + 16;
}

#ifdef TLC_X86
// F(2×2, 3×3)'s U of one tile for output channels o … o + 7 (r0: its first row of dy in a
// channels-last slot, rows `rowsStride` apart; U's planes ξ ux apart). With A's last row
// negated, a tile's (p q; r s) gives rows (p, q), (p + r, q + s), (p − r, q − s), (r, s), and
// each row (a, b) gives (a, a + b, a − b, b).
static inline __attribute__((always_inline, target("avx2")))
void dy_tile2(const float *r0, long rowsStride, long Op, long o, float *out, long ux) {
    const float *r1 = r0 + rowsStride;
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

// A dy along one axis for F(4×4, 3×3) (A is the 6 × 4 transpose of the forward pass's Aᵀ, points 0, ±1, ±2):
// d₀, (d₀ + d₂) + (d₁ + d₃), (d₀ + d₂) − (d₁ + d₃), (d₀ + 4d₂) + 2(d₁ + 4d₃), (d₀ + 4d₂) − 2(d₁ + 4d₃), d₃.
static inline __attribute__((always_inline, target("avx2,fma")))
void dy_axis4(const __m256 d[4], __m256 u[6]) {
    const __m256 s02 = _mm256_add_ps(d[0], d[2]), s13 = _mm256_add_ps(d[1], d[3]);
    const __m256 four = _mm256_set1_ps(4.0f), two = _mm256_set1_ps(2.0f);
    const __m256 even = _mm256_fmadd_ps(four, d[2], d[0]), odd = _mm256_fmadd_ps(four, d[3], d[1]);
    u[0] = d[0];
    u[1] = _mm256_add_ps(s02, s13);
    u[2] = _mm256_sub_ps(s02, s13);
    u[3] = _mm256_fmadd_ps(two, odd, even);
    u[4] = _mm256_fnmadd_ps(two, odd, even);
    u[5] = d[3];
}

// F(4×4, 3×3)'s U of one tile (as dy_tile2; ξ = 6a + b, a along the tile's rows, b along its
// columns): the tile's 4×4 outputs down its columns, then along the six rows.
static inline __attribute__((always_inline, target("avx2,fma")))
void dy_tile4(const float *r0, long rowsStride, long Op, long o, float *out, long ux) {
    __m256 t[6][4];
    for (int q = 0; q < 4; q++) {
        __m256 column[4], u[6];
        for (int r = 0; r < 4; r++) column[r] = _mm256_loadu_ps(r0 + r * rowsStride + q * Op + o);
        dy_axis4(column, u);
        for (int a = 0; a < 6; a++) t[a][q] = u[a];
    }
    for (int a = 0; a < 6; a++) {
        __m256 u[6];
        dy_axis4(t[a], u);
        for (int b = 0; b < 6; b++) _mm256_storeu_ps(out + (6 * a + b) * ux + o, u[b]);
    }
}

// U[ξ][t][o] = (A dy Aᵀ)[ξ] of output channel o in g's tiles of g->m for the block's tiles in
// order, from the samples' dy channels-last in `slots` (through the mask, padded by 1, zero
// past the plane and for o from O to Opad; sample s in slots[s % g->slots]). Vectors of 8
// output channels.
static inline __attribute__((always_inline, target("avx2,fma")))
void transform_dy(const wgeometry *g, float *const *slots, const segment *segs, int nsegs, float *U) {
    const long Op = g->Opad, ux = xi_stride(g->TB * Op), rowsStride = (long)g->PW * Op, m = g->m;
    for (int k = 0; k < nsegs; k++) {
        const segment sg = segs[k];
        const float *rows = slots[sg.s % g->slots] + ((1 + m * sg.ti) * g->PW + 1 + m * sg.tj0) * Op;
        for (int j = 0; j < sg.tj1 - sg.tj0; j++) {
            const float *r0 = rows + m * j * Op;
            float *out = U + (sg.at + j) * Op;
            if (m == 4) for (long o = 0; o < Op; o += 8) dy_tile4(r0, rowsStride, Op, o, out, ux);
            else for (long o = 0; o < Op; o += 8) dy_tile2(r0, rowsStride, Op, o, out, ux);
        }
    }
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

// The (m + 2)² sums of a block's `used` tiles: M[ξ][c][o] (+)= Σ_t V[ξ][t][c] U[ξ][t][o]. Channel
// rows past C are zero (their sums land in M's padding rows, never read).
// Not inlined, so that profiles tell the sums from the transforms (Benchmarks/time_shares.py).
__attribute__((target("avx2,fma"), noinline))
static void block_gemms(int level, const wgeometry *g, int Cp, const float *V, const float *U, long used, float *M, int first) {
    const long Op = g->Opad, vx = xi_stride(g->TB * Cp), ux = xi_stride(g->TB * Op), mx = xi_stride((long)Cp * Op);
    const int planes = planes_of(g);
    for (int x = 0; x < planes; x++)
        for (long c0 = 0; c0 < Cp; c0 += CR) {
            const float *v = V + x * vx + c0, *u = U + x * ux;
            float *m = M + x * mx + c0 * Op;
            for (long o = 0; o < Op;) {
                if (level < 2) {
                    grad256(v, Cp, u + o, Op, used, m + o, Op, first);
                    grad256(v + 4, Cp, u + o, Op, used, m + 4 * Op + o, Op, first);
                    o += 16;
                } else if (o + 32 <= Op) { grad512_32(v, Cp, u + o, Op, used, m + o, Op, first); o += 32; }
                else { grad512_16(v, Cp, u + o, Op, used, m + o, Op, first); o += 16; }
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

// Gᵀ m along one axis of six values for F(4×4, 3×3): (m₀/4 − (m₁ + m₂)/6) + (m₃ + m₄)/24,
// (m₂ − m₁)/6 + (m₃ − m₄)/12, ((m₃ + m₄) − (m₁ + m₂))/6 + m₅.
static inline __attribute__((always_inline, target("avx2")))
void weight_axis4(const __m256 m[6], __m256 w[3]) {
    const __m256 sixth = _mm256_set1_ps(1.0f / 6.0f), twelfth = _mm256_set1_ps(1.0f / 12.0f);
    const __m256 twentyFourth = _mm256_set1_ps(1.0f / 24.0f), quarter = _mm256_set1_ps(0.25f);
    const __m256 s12 = _mm256_add_ps(m[1], m[2]), s34 = _mm256_add_ps(m[3], m[4]);
    w[0] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(m[0], quarter), _mm256_mul_ps(s12, sixth)), _mm256_mul_ps(s34, twentyFourth));
    w[1] = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(m[2], m[1]), sixth), _mm256_mul_ps(_mm256_sub_ps(m[3], m[4]), twelfth));
    w[2] = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(s34, s12), sixth), m[5]);
}

// dW[o][c] = Gᵀ M[·][c][o] G for F(4×4, 3×3), 8 outputs at a time: down M's columns, then along the three rows.
static inline __attribute__((always_inline, target("avx2")))
void transform_weights4(const wgeometry *g, int C, int Cp, int O, const float *M, float *dW) {
    const long mx = xi_stride((long)Cp * g->Opad);
    for (long c = 0; c < C; c++)
        for (long o0 = 0; o0 < O; o0 += 8) {
            __m256 t[3][6];
            for (int b = 0; b < 6; b++) {
                __m256 column[6], w[3];
                for (int a = 0; a < 6; a++) column[a] = _mm256_loadu_ps(M + (6 * a + b) * mx + c * g->Opad + o0);
                weight_axis4(column, w);
                for (int i = 0; i < 3; i++) t[i][b] = w[i];
            }
            float out[9][8];
            for (int i = 0; i < 3; i++) {
                __m256 w[3];
                weight_axis4(t[i], w);
                for (int j = 0; j < 3; j++) _mm256_storeu_ps(out[3 * i + j], w[j]);
            }
            for (int l = 0; l < 8 && o0 + l < O; l++)
                for (int k = 0; k < 9; k++) dW[((o0 + l) * C + c) * 9 + k] = out[k][l];
        }
}

// One sample's dy channels-last (`slot`, through the mask) summed per output channel into
// `sums` (Opad floats): one chain per channel over the positions in order, 8 channels a vector.
static inline __attribute__((always_inline, target("avx2")))
void sample_sums(const wgeometry *g, const float *slot, float *sums) {
    const long Op = g->Opad, row = (long)g->PW * Op;
    for (long o = 0; o < Op; o += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int i = 1; i <= g->OH; i++)
            for (int j = 1; j <= g->OW; j++) acc = _mm256_add_ps(acc, _mm256_loadu_ps(slot + i * row + j * Op + o));
        _mm256_storeu_ps(sums + o, acc);
    }
}

// Where the output gradients come from: dy through the mask (either may be NULL), or, after a
// ReLU and a 2×2 max pool ran in the forward pass's epilogue (tlc_direct_conv_relu_pool), the
// pooled gradient: each window's winner (argmax) gets 0 + pooledDy where the pooled output
// pooledY is positive, every other position 0, as the pool's and the ReLU's backward give it.
typedef struct { const float *dy, *mask, *pooledDy, *pooledY; const int *argmax; } dy_source;

// Sample s's pooled gradient (see dy_source) channels-last into `slot` (padded by 1, as
// winograd_load_samples copies dy): each 2×2 window's four positions from its winner's
// 0 + pooledDy where pooledY > 0, every other value 0. Eight channels × eight windows of a
// pooled row at a time (8 × 8 transposes of dy, y and the winners; the eight planes read
// row after row, 24 sequential streams), each position written once as a whole vector of
// channels; then the padding. (A scalar scatter of the winners into a zeroed slot took
// 2.8 % of the cnn's training under perf on an Emerald Rapids Xeon, a branch per window on
// the sign of y.)
__attribute__((target("avx2")))
static void pooled_to_channels_last(const wgeometry *g, const dy_source *src, int s, int O, float *slot) {
    const long Op = g->Opad, row = (long)g->PW * Op;
    const int ph = g->OH / 2, pw = g->OW / 2;
    const long plane = (long)ph * pw;
    const __m256 zero = _mm256_setzero_ps();
    for (long o0 = 0; o0 < Op; o0 += 8) {
        const int no = O - o0 < 8 ? (int)(O - o0 > 0 ? O - o0 : 0) : 8;
        for (int i = 0; i < ph; i++)
            for (int j0 = 0; j0 < pw; j0 += 8) {
                const int n = pw - j0 < 8 ? pw - j0 : 8;
                const __m256i lanes = first_lanes(n);
                __m256 dy[8], y[8], a[8];
                for (int k = 0; k < 8; k++) {
                    if (k >= no) { dy[k] = y[k] = a[k] = zero; continue; }
                    const long at = ((long)s * O + o0 + k) * plane + (long)i * pw + j0;
                    dy[k] = _mm256_maskload_ps(src->pooledDy + at, lanes);
                    y[k] = _mm256_maskload_ps(src->pooledY + at, lanes);
                    a[k] = _mm256_maskload_ps((const float *)(src->argmax + at), lanes);
                }
                transpose8(dy); transpose8(y); transpose8(a);
                for (int jj = 0; jj < n; jj++) {
                    const int j = j0 + jj;
                    const __m256 value = _mm256_add_ps(zero, dy[jj]), positive = _mm256_cmp_ps(y[jj], zero, _CMP_GT_OQ);
                    const __m256i rel = _mm256_sub_epi32(_mm256_castps_si256(a[jj]), _mm256_set1_epi32(2 * i * g->OW + 2 * j));
                    for (int dr = 0; dr < 2; dr++)
                        for (int dc = 0; dc < 2; dc++) {
                            const __m256 wins = _mm256_castsi256_ps(_mm256_cmpeq_epi32(rel, _mm256_set1_epi32(dr * g->OW + dc)));
                            _mm256_storeu_ps(slot + (1 + 2L * i + dr) * row + (1 + 2L * j + dc) * Op + o0,
                                             _mm256_and_ps(value, _mm256_and_ps(wins, positive)));
                        }
                }
            }
        }
    // The padding: row 0 and the rows past OH, column 0 and the columns past OW of the rows between
    // (4×4 tiles may reach past the plane).
    memset(slot, 0, (size_t)row * sizeof(float));
    memset(slot + (1L + g->OH) * row, 0, (size_t)((g->PH - 1 - g->OH) * row) * sizeof(float));
    for (int r = 1; r <= g->OH; r++) {
        memset(slot + r * row, 0, (size_t)Op * sizeof(float));
        memset(slot + r * row + (1L + g->OW) * Op, 0, (size_t)((g->PW - 1 - g->OW) * Op) * sizeof(float));
    }
}

// The output gradients of the samples a block's segments touch channels-last (padded by 1: the
// input of dx's convolution) into their slots (sample s in slots[s % g->slots]), as
// winograd_load_samples loads x, and (when db is not NULL) the sums of sample *summed, the
// next in order, added to db when it is loaded: the first sample's stored, later ones added.
static inline __attribute__((always_inline, target("avx2")))
void load_output_gradients(const wgeometry *g, const segment *segs, int nsegs, const dy_source *src, int O,
                           float *const *slots, int *loaded, float *sums, float *db, int *summed) {
    for (int k = 0; k < nsegs; k++) {
        const int s = segs[k].s, slot = s % g->slots;
        if (loaded[slot] == s) continue;
        if (src->pooledDy) {
            pooled_to_channels_last(g, src, s, O, slots[slot]);
            loaded[slot] = s;
        } else {
            winograd_load_samples(g, &segs[k], 1, src->dy, src->mask, O, (int)g->Opad, g->OH, g->OW, 1, slots, loaded);
        }
        if (!db || s != *summed) continue;
        sample_sums(g, slots[slot], sums);
        for (int o = 0; o < O; o++) db[o] = s == 0 ? sums[o] : db[o] + sums[o];
        *summed = s + 1;
    }
}

// Compiled for AVX2 (which every level has) so that the transforms vectorize. With dx (padding
// 1 only): after each block, dx of the samples whose tiles are all done, by dx's convolution
// (packed, scratch dxScratch) over dy's channels-last copies while they are in cache (all of
// them are loaded: dy_slots holds every sample from dx's lag to the block's last, so a pooled
// source, which has no dy to copy again, is never asked for one).
__attribute__((target("avx2,fma")))
static void winograd_backward(int m, int level, const float *x, const dy_source *src, int samples, int C, int H, int W,
                              int O, int pad, float *scratch, float *dW, float *db, const float *packed, float *dxScratch, float *dx) {
    const wgeometry g = grad_geometry(m, O, H, W, pad);
    wgeometry gy = g;                                  // dy's slots: enough for dx's blocks too
    gy.slots = dy_slots(&g);
    const grad_layout l = grad_layout_of(&g, C);
    const int Cp = (int)up16(C);
    // Every part on a cache line: the scratch starts on one (the engine's workspaces do) or is moved to one.
    float *base = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *dyBase = base + l.samples, *V = dyBase + l.dySamples, *U = V + l.V, *M = U + l.U, *sums = M + l.M;
    segment *segs = (segment *)(sums + l.sums);
    float *slots[MAX_SLOTS], *dySlots[MAX_SLOTS];
    int loaded[MAX_SLOTS], dyLoaded[MAX_SLOTS];
    for (int i = 0; i < g.slots; i++) { slots[i] = base + i * l.sample; loaded[i] = -1; }
    for (int i = 0; i < gy.slots; i++) { dySlots[i] = dyBase + i * l.dySample; dyLoaded[i] = -1; }
    const long total = samples * g.T, dxTB = dx ? winograd_block_tiles(m, C, O, g.OH, g.OW, 1) : 1;
    long dxDone = 0;   // tiles whose dx is written (dx's tiles are dy's: padding 1)
    int summed = 0;
    for (long t0 = 0; t0 < total; t0 += g.TB) {
        const long t1 = t0 + g.TB < total ? t0 + g.TB : total;
        const int nsegs = segments_of(&g, t0, t1, segs);
        winograd_load_samples(&g, segs, nsegs, x, NULL, C, Cp, H, W, pad, slots, loaded);
        winograd_transform_input(level, &g, Cp, slots, segs, nsegs, t1 - t0, V);
        load_output_gradients(&gy, segs, nsegs, src, O, dySlots, dyLoaded, sums, db, &summed);
        transform_dy(&gy, dySlots, segs, nsegs, U);
        block_gemms(level, &g, Cp, V, U, t1 - t0, M, t0 == 0);
        // dx's whole blocks over the samples whose dy is complete (all of it after the last block):
        // its blocks as a call over all tiles would have them.
        const long ready = t1 == total ? total : dxDone + (t1 / g.T * g.T - dxDone) / dxTB * dxTB;
        if (dx && ready > dxDone) {
            winograd_conv_loaded(m, level, src->dy, src->mask, dxDone, ready, O, g.OH, g.OW, packed, C, 1, dySlots, dyLoaded, gy.slots,
                                 dxScratch, dx);
            dxDone = ready;
        }
    }
    if (total == 0) {
        memset(M, 0, (size_t)l.M * sizeof(float));
        if (db) memset(db, 0, (size_t)O * sizeof(float));
    }
    if (m == 4) transform_weights4(&g, C, Cp, O, M, dW);
    else transform_weights(&g, C, Cp, O, M, dW);
}
#endif

void tlc_winograd_weight_grad(int m, int level, const float *x, const float *dy, const float *mask, int samples, int C, int H, int W,
                              int outputs, int pad, float *scratch, float *dW, float *db) {
#ifdef TLC_X86
    const dy_source src = {dy, mask, NULL, NULL, NULL};
    winograd_backward(m, level, x, &src, samples, C, H, W, outputs, pad, scratch, dW, db, NULL, NULL, NULL);
#else
    (void)m; (void)level; (void)x; (void)dy; (void)mask; (void)samples; (void)C; (void)H; (void)W; (void)outputs; (void)pad;
    (void)scratch; (void)dW; (void)db;
#endif
}

void tlc_winograd_backward(int m, int level, const float *x, const float *dy, const float *mask, int samples, int C, int H, int W, int outputs,
                           float *scratch, float *dW, float *db, const float *packed, float *dxScratch, float *dx) {
#ifdef TLC_X86
    const dy_source src = {dy, mask, NULL, NULL, NULL};
    winograd_backward(m, level, x, &src, samples, C, H, W, outputs, 1, scratch, dW, db, packed, dxScratch, dx);
#else
    (void)m; (void)level; (void)x; (void)dy; (void)mask; (void)samples; (void)C; (void)H; (void)W; (void)outputs; (void)scratch; (void)dW;
    (void)db; (void)packed; (void)dxScratch; (void)dx;
#endif
}

void tlc_winograd_backward_pooled(int m, int level, const float *x, const float *pooledDy, const float *pooledY, const int *argmax, int samples,
                                  int C, int H, int W, int outputs, float *scratch, float *dW, float *db, const float *packed,
                                  float *dxScratch, float *dx) {
#ifdef TLC_X86
    const dy_source src = {NULL, NULL, pooledDy, pooledY, argmax};
    winograd_backward(m, level, x, &src, samples, C, H, W, outputs, 1, scratch, dW, db, packed, dxScratch, dx);
#else
    (void)m; (void)level; (void)x; (void)pooledDy; (void)pooledY; (void)argmax; (void)samples; (void)C; (void)H; (void)W; (void)outputs;
    (void)scratch; (void)dW; (void)db; (void)packed; (void)dxScratch; (void)dx;
#endif
}
