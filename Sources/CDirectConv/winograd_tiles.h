// CDirectConv's Winograd tiles (private), shared by the convolution (winograd.c) and its
// weight gradient (winograd_grad.c), both in F(2×2, 3×3) and F(4×4, 3×3): the geometry of
// m×m output tiles over a part's samples in blocks, the blocks' runs within tile rows
// (segments), the samples copied channels-last and zero-padded ([row][column][channel]) and
// the input transform V = Bᵀ d B of a block's (m + 2)² windows into V[ξ][tile][channel]
// (in one fixed order, so every instruction set computes the same bits; defined in
// winograd.c), and the 8 × 8 transposes between planes and channels-last rows.
#ifndef TLC_CDIRECTCONV_WINOGRAD_TILES_H
#define TLC_CDIRECTCONV_WINOGRAD_TILES_H
#include "geometry.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct {
    int m;                // outputs per tile side (2 or 4): windows of (m + 2)²
    int OH, OW, TH, TW;   // output size, tiles of m×m outputs
    int PH, PW;           // padded rows and columns (m·TH + 2, m·TW + 2)
    long T;               // tiles per sample (TH·TW)
    long TB;              // tiles per block (a multiple of 16): consecutive tiles of the part, across samples
    int slots;            // samples kept channels-last at once (all that one block can touch)
    long Opad;            // output channels rounded up to the caller's register tile
} wgeometry;

// The geometry of H × W inputs at padding `pad` (3×3 kernel) in m×m tiles, in blocks of TB tiles,
// with `Opad` output channels.
static inline wgeometry wgeometry_of(int H, int W, int pad, int m, long TB, long Opad) {
    wgeometry g;
    g.m = m;
    g.OH = H + 2 * pad - 2; g.OW = W + 2 * pad - 2;
    g.TH = (g.OH + m - 1) / m; g.TW = (g.OW + m - 1) / m;
    g.PH = m * g.TH + 2; g.PW = m * g.TW + 2;
    g.T = (long)g.TH * g.TW;
    g.TB = TB;
    g.slots = (int)((g.TB + g.T - 1) / g.T) + 1;
    g.Opad = Opad;
    return g;
}

// A block's tiles t0 … t1 − 1 as runs within one tile row: sample, tile row, first and end tile.
typedef struct { int s, ti, tj0, tj1; long at; } segment;

static inline int segments_of(const wgeometry *g, long t0, long t1, segment *out) {
    int n = 0;
    for (long t = t0; t < t1;) {
        const long s = t / g->T, r = t % g->T;
        segment seg;
        seg.s = (int)s; seg.ti = (int)(r / g->TW); seg.tj0 = (int)(r % g->TW);
        seg.tj1 = seg.tj0 + (int)(t1 - t < g->TW - seg.tj0 ? t1 - t : g->TW - seg.tj0);
        seg.at = t - t0;
        out[n++] = seg;
        t += seg.tj1 - seg.tj0;
    }
    return n;
}

// Floats from one of the (m + 2)² planes (ξ) of V, U or M to the next, for planes of `floats`:
// a cache line more, so that the planes' rows do not all fall into the same cache sets
// (128 tiles of 32 channels are 16 KB: 16 stores 16 KB apart evicted each other).
static inline long xi_stride(long floats) { return floats + 16; }

// The most segments one block can have.
static inline long segments_max(const wgeometry *g) { return g->TB / g->TW + 3; }

// The most tiles a block of the convolution (winograd.c) holds.
enum { WINOGRAD_MAX_TB = 132 };

// Floats of one sample channels-last (PH × PW × Cp, a multiple of 16).
static inline long channels_last_count(const wgeometry *g, int Cp) { return ((long)g->PH * g->PW * Cp + 15) / 16 * 16; }

/// Copies the samples a block's segments touch channels-last, zero-padded, into their slots
/// (sample s in slot s % slots), unless a slot already holds its sample; channels C … Cp − 1
/// are zero; with `mask` (x's shape) a value counts only where mask > 0.
void winograd_load_samples(const wgeometry *g, const segment *segs, int nsegs, const float *x, const float *mask, int C, int Cp, int H,
                           int W, int pad, float *const *slots, int *loaded);
/// V[ξ][t][c] in g's tiles of g->m (rows of Cp floats, (m + 2)² planes ξ xi_stride(TB·Cp) apart) for the block's tiles
/// in order (t = 0 … used − 1, by segment), vectors of 16 channels (level 2) or 8.
void winograd_transform_input(int level, const wgeometry *g, int Cp, float *const *slots, const segment *segs, int nsegs, long used,
                              float *V);

#if defined(__x86_64__)
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

// Lanes 0 … n − 1 of a mask for maskload (masked loads only: AMD microcodes masked stores).
static inline __attribute__((always_inline, target("avx2"))) __m256i first_lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#endif
#endif
