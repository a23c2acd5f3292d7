// CDirectConv's Winograd F(2×2, 3×3) tiles (private), shared by the convolution
// (winograd.c) and its weight gradient (winograd_grad.c): the geometry of 2×2 output tiles
// over a part's samples in blocks, the blocks' runs within tile rows (segments), each
// sample's padded input split into even and odd columns, and the input transform
// V = Bᵀ d B of a block's 4×4 windows (adds and subtracts in one fixed order, so every
// instruction set computes the same bits).
#ifndef TLC_CDIRECTCONV_WINOGRAD_TILES_H
#define TLC_CDIRECTCONV_WINOGRAD_TILES_H
#include "geometry.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct {
    int OH, OW, TH, TW;   // output size, tiles of 2×2 outputs
    int PH, HW;           // padded rows (2·TH + 2); floats per row of each deinterleaved half (TW + 1)
    long T;               // tiles per sample (TH·TW)
    long TB;              // tiles per block (a multiple of 16): consecutive tiles of the part, across samples
    long VS;              // floats per row of V: TB and 8 of slack for the input transform's last, partly used vector
    int slots;            // samples whose split input is kept at once (all that one block can touch)
    long Opad;            // output channels rounded up to the caller's register tile
} wgeometry;

// The geometry of H × W inputs at padding `pad` (3×3 kernel), in blocks of TB tiles (a multiple of 16),
// with `Opad` output channels.
static inline wgeometry wgeometry_of(int H, int W, int pad, long TB, long Opad) {
    wgeometry g;
    g.OH = H + 2 * pad - 2; g.OW = W + 2 * pad - 2;
    g.TH = (g.OH + 1) / 2; g.TW = (g.OW + 1) / 2;
    g.PH = 2 * g.TH + 2; g.HW = g.TW + 1;
    g.T = (long)g.TH * g.TW;
    g.TB = TB;
    g.VS = g.TB + 8;
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

// Floats of one sample's split input, and the most segments one block can have.
static inline long halves_count(const wgeometry *g, int C) { return (long)C * g->PH * g->HW * 2; }
static inline long segments_max(const wgeometry *g) { return g->TB / g->TW + 3; }

#if defined(__x86_64__)
// Sample xs (C × H × W) zero-padded to PH × (2·HW) and split into even and odd columns:
// even[c][i][j] = padded[c][i][2j], odd[c][i][j] = padded[c][i][2j + 1], straight from the
// source rows (a padded row written first and read back at another alignment stalled
// store forwarding). With `mask` a value counts only where mask > 0.
static inline __attribute__((always_inline, target("avx2")))
void split_sample(const float *xs, const float *mask, int C, int H, int W, int pad, const wgeometry *g, float *halves) {
    const long half = (long)g->PH * g->HW;
    const int PW = 2 * g->HW;
    // Source column j lands at padded column j + pad: with an odd pad, the even source
    // columns are the odd padded ones.
    const int flip = pad & 1, first = (pad + 1) / 2, second = pad / 2;
    for (int c = 0; c < C; c++) {
        float *even = halves + (long)c * 2 * half, *odd = even + half;
        memset(even, 0, (size_t)pad * g->HW * sizeof(float));
        memset(odd, 0, (size_t)pad * g->HW * sizeof(float));
        memset(even + (long)(H + pad) * g->HW, 0, (size_t)(g->PH - H - pad) * g->HW * sizeof(float));
        memset(odd + (long)(H + pad) * g->HW, 0, (size_t)(g->PH - H - pad) * g->HW * sizeof(float));
        for (int i = 0; i < H; i++) {
            const float *src = xs + ((long)c * H + i) * W, *m = mask ? mask + ((long)c * H + i) * W : NULL;
            float *e = even + (long)(i + pad) * g->HW, *o = odd + (long)(i + pad) * g->HW;
            // Even source columns go to `se` from index `first` (padded column 2·first − … ), odd ones to `so`.
            float *se = flip ? o + second : e + second, *so = flip ? e + first : o + second;
            int j = 0;
            for (; j + 16 <= W; j += 16) {
                __m256 a = _mm256_loadu_ps(src + j), b = _mm256_loadu_ps(src + j + 8);
                if (m) {
                    const __m256 zero = _mm256_setzero_ps();
                    a = _mm256_and_ps(a, _mm256_cmp_ps(_mm256_loadu_ps(m + j), zero, _CMP_GT_OQ));
                    b = _mm256_and_ps(b, _mm256_cmp_ps(_mm256_loadu_ps(m + j + 8), zero, _CMP_GT_OQ));
                }
                // Within each 128-bit half: evens (a0 a2 b0 b2 | a4 a6 b4 b6); then put the quarters in order.
                const __m256 ev = _mm256_shuffle_ps(a, b, 0x88), od = _mm256_shuffle_ps(a, b, 0xDD);
                _mm256_storeu_ps(se + j / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8)));
                _mm256_storeu_ps(so + j / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xD8)));
            }
            if (j + 8 <= W) {
                __m256 a = _mm256_loadu_ps(src + j);
                if (m) a = _mm256_and_ps(a, _mm256_cmp_ps(_mm256_loadu_ps(m + j), _mm256_setzero_ps(), _CMP_GT_OQ));
                const __m256 split = _mm256_permutevar8x32_ps(a, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
                _mm_storeu_ps(se + j / 2, _mm256_castps256_ps128(split));
                _mm_storeu_ps(so + j / 2, _mm256_extractf128_ps(split, 1));
                j += 8;
            }
            // The rest: evens, then odds (no branch per value).
            if (m) {
                for (int k = j; k < W; k += 2) se[k / 2] = m[k] > 0 ? src[k] : 0.0f;
                for (int k = j + 1; k < W; k += 2) so[k / 2] = m[k] > 0 ? src[k] : 0.0f;
            } else {
                for (int k = j; k < W; k += 2) se[k / 2] = src[k];
                for (int k = j + 1; k < W; k += 2) so[k / 2] = src[k];
            }
            // The row's zero columns: before the values and after them.
            for (int q = 0; q < pad; q++) { if (q & 1) o[q / 2] = 0; else e[q / 2] = 0; }
            for (int q = pad + W; q < PW; q++) { if (q & 1) o[q / 2] = 0; else e[q / 2] = 0; }
        }
    }
}

// Splits the samples a block's segments touch into their slots (sample s in slot s % slots),
// unless a slot already holds its sample; with `mask` (x's shape) a value counts only where mask > 0.
static inline __attribute__((always_inline, target("avx2")))
void load_block_samples(const wgeometry *g, const segment *segs, int nsegs, const float *x, const float *mask, int C, int H,
                        int W, int pad, float *const *halves, int *loaded) {
    const long inPlane = (long)C * H * W;
    for (int k = 0; k < nsegs; k++) {
        const int s = segs[k].s, slot = s % g->slots;
        if (loaded[slot] != s) {
            split_sample(x + s * inPlane, mask ? mask + s * inPlane : NULL, C, H, W, pad, g, halves[slot]);
            loaded[slot] = s;
        }
    }
}

// V[ξ][c][t] for the block's tiles in order (t = 0 … used − 1, by segment; zero up to TB).
static inline __attribute__((always_inline, target("avx2")))
void transform_input(const wgeometry *g, int C, float *const *halves, const segment *segs, int nsegs, long used, float *V) {
    const long half = (long)g->PH * g->HW, cstride = g->VS, xstride = (long)C * g->VS;
    for (int c = 0; c < C; c++) {
        float *Vc = V + (long)c * cstride;
        for (int k = 0; k < nsegs; k++) {
            const segment sg = segs[k];
            const float *even = halves[sg.s % g->slots] + (long)c * 2 * half, *odd = even + half;
            // Tile tj of the row lands at out[tj] (so out[tj0] is the segment's first slot).
            float *out = Vc + sg.at - sg.tj0;
            const int ti = sg.ti, TW = sg.tj1;
            const float *e[4], *o[4];
            for (int r = 0; r < 4; r++) { e[r] = even + (long)(2 * ti + r) * g->HW; o[r] = odd + (long)(2 * ti + r) * g->HW; }
            // 8 tiles at a time (a last group's loads may read past the row, into the sample's
            // other rows or the scratch after them: those lanes land past the segment).
            for (int tj = sg.tj0; tj < TW; tj += 8) {
                __m256 u[4][4];
                for (int r = 0; r < 4; r++) {
                    const __m256 a0 = _mm256_loadu_ps(e[r] + tj), a1 = _mm256_loadu_ps(o[r] + tj);
                    const __m256 a2 = _mm256_loadu_ps(e[r] + tj + 1), a3 = _mm256_loadu_ps(o[r] + tj + 1);
                    u[r][0] = _mm256_sub_ps(a0, a2); u[r][1] = _mm256_add_ps(a1, a2);
                    u[r][2] = _mm256_sub_ps(a2, a1); u[r][3] = _mm256_sub_ps(a1, a3);
                }
                __m256 v[16];
                for (int q = 0; q < 4; q++) {
                    v[0 * 4 + q] = _mm256_sub_ps(u[0][q], u[2][q]);
                    v[1 * 4 + q] = _mm256_add_ps(u[1][q], u[2][q]);
                    v[2 * 4 + q] = _mm256_sub_ps(u[2][q], u[1][q]);
                    v[3 * 4 + q] = _mm256_sub_ps(u[1][q], u[3][q]);
                }
                // A last, partly used vector writes past the segment: the next segment (or the
                // zeros after the block's last tile, or the row's slack) overwrites that.
                for (int x = 0; x < 16; x++) _mm256_storeu_ps(out + x * xstride + tj, v[x]);
            }
        }
        for (int x = 0; x < 16; x++) memset(Vc + x * xstride + used, 0, (size_t)(g->TB - used) * sizeof(float));
    }
}

#endif
#endif
