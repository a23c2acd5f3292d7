// CDirectConv's Winograd convolutions F(m×m, 3×3), m = 2 or 4 (private to CDirectConv; see
// cdirectconv.h for the API and winograd.h for what this file owns). Each m×m block of
// outputs comes from an (m + 2)² window of the padded input: V = Bᵀ d B per input channel,
// U = G g Gᵀ per kernel, M = Σ_c U ⊙ V ((m + 2)² independent sums over the channels, each a
// GEMM of tiles × channels × output channels), Y = Aᵀ M A (Lavin and Gray, 2016; F(4×4)
// with the points 0, ±1, ±2). That is 16 multiply-adds per 4 outputs and channel (m = 2)
// or 36 per 16 (m = 4) instead of 36 or 144. Forward passes (inference and training) and a
// training pass's dW and dx (winograd_grad.c) run F(4×4, 3×3) where it pays, F(2×2, 3×3)
// elsewhere (tlc_winograd_tile: its float32 error is 15–26× F(2×2)'s at worst, 5–7× in RMS).
//
// Layout: channels are the vectors' lanes (winograd_lanes.h). Each sample a block of tiles
// touches is copied channels-last and zero-padded ([row][column][channel], 8 × 8
// transposes), so a tile's window is (m + 2)² aligned vectors per 16 channels; V and M are
// [ξ][tile][channel]; a segment's m output rows are transposed back into y in chunks of 16
// columns × 64 channels. (Vectors across a tile row's tiles had been 7 or 14 tiles long on
// the cnn's planes, with unaligned stores and spills: the transforms took 44 % of its
// training on an Intel AVX-512 core, more than the sums.)
//
// The transforms are adds, subtracts, multiplications and fused multiply-adds by small
// constants in one fixed order, so every instruction set computes them to the same bits;
// each of the sums is one fused multiply-add chain per output over the channels in blocks
// of 288 (like the direct convolution's taps), whatever the register tile. AVX-512 and AVX2
// therefore give bitwise the same result.
#include "winograd.h"
#include "winograd_tiles.h"
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define TLC_X86 1
#endif

// The transforms and the epilogue must round as written (BatchNorm's (v − mean)·scale + shift too).
#pragma clang fp contract(off)

// Kernel packing's output channels per step; channels per block of a sum's chain; tiles per
// block are a multiple of 12 (the register tiles: 12 on AVX-512, 6 on AVX2).
enum { MR = 8, CHANNEL_BLOCK = 288, TILE_GROUP = 12 };

// Output columns and channels per chunk of the output transform: its rows (up to 4 × 16
// columns × 64 channels, 16 KB) stay in L1 until they are transposed into y. (A segment's
// rows of all channels at once were 57 KB for 64 channels at 56² in 4×4 tiles, past this
// Xeon's 48 KB L1, and their transposes took 22 % of that layer's samples, against 14 % in
// 2×2 tiles.)
enum { CHUNK_COLUMNS = 16, CHUNK_CHANNELS = 64 };

static long round_up(long n, long m) { return (n + m - 1) / m * m; }

// Each of the 36 sums reads its slice of V (tiles × channels, kept in L2) once per block of
// 32 output channels, and each block of the transformed kernel once per block of tiles:
// long blocks read the kernel (36 · outputs · inputs floats) less often, which decides
// 512-channel layers; up to 64 K floats per slice of V.
static wgeometry forward_geometry(int m, int outputs, int inputs, int H, int W, int pad) {
    long target = 65536 / (inputs > 0 ? inputs : 1);
    if (target < 2 * TILE_GROUP) target = 2 * TILE_GROUP;
    if (target > WINOGRAD_MAX_TB) target = WINOGRAD_MAX_TB;
    return wgeometry_of(H, W, pad, m, target / TILE_GROUP * TILE_GROUP, round_up(outputs, 16));
}

int tlc_winograd_tile(int outputs, int inputs, int H, int W, int k, int pad, int four) {
    // Measured on one Zen 5 core against the direct convolution, 32 samples, AVX-512 (AVX2), in
    // 2×2 tiles: 32 → 32 channels at 28² 1.34× as fast (1.66×), 64 → 64 at 56² 1.53× (1.88×), 256 → 256
    // at 14² 1.73× (2.09×), 128 → 128 at 7² 1.16× (1.53×), 512 → 512 at 7² 1.44× (1.48×);
    // with 16 channels on either side the transforms cost what the sums save on AVX-512
    // (0.96–1.12×). The choice cannot depend on the instruction set: both give the same bits.
    if (k != 3 || pad > 2 || inputs < 32 || outputs < 32) return 0;
    const int OH = H + 2 * pad - 2, OW = W + 2 * pad - 2;
    if (OH < 7 || OW < 7) return 0;
    // 4×4 tiles (tile shape 4), where they cover the plane with at most a tenth more positions
    // than 2×2 tiles (28², 56², 7²) or both sides have 128+ channels. Forward passes, measured
    // on one core of an Emerald Rapids Xeon, minimum of 6 alternated runs against 2×2: 32 → 32
    // at 28² 0.76–0.84× the time, 128 → 128 at 28² 0.71–0.73×, 512 → 512 at 7² 0.56–0.72×,
    // 256 → 256 at 14² 0.87–0.93×; but 32 → 64 and 64 → 32 at 14², whose 4×4 tiles cover 16²,
    // 1.07–1.14×. Against float64, on the same layers and inputs (32 → 32 at
    // 28² to 512 → 512 at 7²), their worst error is 15–26× that of 2×2 tiles (5.1e-6–1.5e-5 of
    // the largest output, against 2.4e-7–5.9e-7) and their RMS error 5–7×. Training's forward
    // passes take them too: the larger rounding can flip a ReLU at a pre-activation within
    // float32's own error of zero (on each of eight 64×64 inputs, resnet18 had 11–22 within ten
    // times torchvision's float32 error, resnet34 44–67), which moves a gradient the way float32
    // rounding in any library can; the torchvision tests compare gradients against float64 on
    // tlc's own ReLU branches and bound how near the kink every branch tlc took differently lies.
    // A training pass's dW and dx take the forward pass's tiles (dx's geometry at padding 1 is
    // the layer's, its channels swapped), so that both read one copy of dy: resnet18's stride-1
    // layers' backward passes took 0.74× the time of 2×2 tiles at 64 channels and 56², 0.67× at
    // 128 and 28², 0.80× at 256 and 14², 0.82× at 512 and 7² (TLC_PROFILE, batch 32, two
    // alternated runs on an Emerald Rapids Xeon, 2 threads); dW's RMS error against float64
    // is about 3.5× that of 2×2 tiles (winograd_grad.c).
    if (!four) return 2;
    const long area2 = round_up(OH, 2) * round_up(OW, 2), area4 = round_up(OH, 4) * round_up(OW, 4);
    return 10 * area4 <= 11 * area2 || (inputs >= 128 && outputs >= 128) ? 4 : 2;
}

long tlc_winograd_packed_count(int m, int outputs, int inputs) {
    return (long)(m + 2) * (m + 2) * round_up(outputs, 16) * inputs;
}

#ifdef TLC_X86
// The 3×3 kernels of the MR outputs of block b and channel c, tap k in g[k] (lanes = outputs, 0 past `outputs`).
__attribute__((target("avx2")))
static inline void kernel_lanes(const float *w, int outputs, int inputs, long b, long c, __m256 g[9]) {
    for (int k = 0; k < 9; k++) {
        float lane[MR];
        for (int r = 0; r < MR; r++) {
            const long o = b * MR + r;
            lane[r] = o < outputs ? w[(o * inputs + c) * 9 + k] : 0.0f;
        }
        g[k] = _mm256_loadu_ps(lane);
    }
}

// F(2×2, 3×3)'s U for the MR outputs of block b and channel c at once (lanes = outputs; the same
// operations in the same order as one output at a time), to dst + ξ·per.
__attribute__((target("avx2")))
static void pack_block2(const float *w, int outputs, int inputs, long b, long c, long per, float *dst) {
    __m256 g[9];
    kernel_lanes(w, outputs, inputs, b, c, g);
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

// G g for F(4×4, 3×3) along one axis of three values: g₀/4, −(g₀ + g₁ + g₂)/6,
// −((g₀ − g₁) + g₂)/6, ((g₀ + 2g₁) + 4g₂)/24, ((g₀ − 2g₁) + 4g₂)/24, g₂.
__attribute__((target("avx2")))
static inline void kernel_axis(const __m256 g[3], __m256 t[6]) {
    const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f);
    const __m256 sixth = _mm256_set1_ps(-1.0f / 6.0f), twentyFourth = _mm256_set1_ps(1.0f / 24.0f);
    const __m256 twice = _mm256_mul_ps(g[1], two), fourTimes = _mm256_mul_ps(g[2], four);
    t[0] = _mm256_mul_ps(g[0], _mm256_set1_ps(0.25f));
    t[1] = _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(g[0], g[1]), g[2]), sixth);
    t[2] = _mm256_mul_ps(_mm256_add_ps(_mm256_sub_ps(g[0], g[1]), g[2]), sixth);
    t[3] = _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(g[0], twice), fourTimes), twentyFourth);
    t[4] = _mm256_mul_ps(_mm256_add_ps(_mm256_sub_ps(g[0], twice), fourTimes), twentyFourth);
    t[5] = g[2];
}

// F(4×4, 3×3)'s U for the MR outputs of block b and channel c at once (lanes = outputs;
// the same operations in the same order as one output at a time), to dst + ξ·per: G g along
// the kernel's columns, then along its rows.
__attribute__((target("avx2")))
static void pack_block4(const float *w, int outputs, int inputs, long b, long c, long per, float *dst) {
    __m256 g[9];
    kernel_lanes(w, outputs, inputs, b, c, g);
    __m256 t[6][3];   // t[i][j] = (G g)[i][j]
    for (int j = 0; j < 3; j++) {
        const __m256 column[3] = {g[j], g[3 + j], g[6 + j]};
        __m256 out[6];
        kernel_axis(column, out);
        for (int i = 0; i < 6; i++) t[i][j] = out[i];
    }
    for (int i = 0; i < 6; i++) {
        __m256 out[6];
        kernel_axis(t[i], out);
        for (int q = 0; q < 6; q++) _mm256_storeu_ps(dst + (i * 6 + q) * per, out[q]);
    }
}
#endif

// U[ξ] = (G g Gᵀ)[ξ] for output channel o (0 from `outputs` to the next multiple of 16), in
// blocks of 32 output channels (the last one 16 when that is what is left): block ob holds
// [c][o − 32·ob] at 32·ob·inputs, rows as wide as the block. Block by block, so that each
// plane is written in one run (channels inner: 36 streams, not 36 per block).
long tlc_winograd_pack_units(int outputs) { return (round_up(outputs, 16) + 31) / 32; }

void tlc_winograd_pack(int m, const float *w, int outputs, int inputs, long ob0, long ob1, float *packed) {
#ifdef TLC_X86
    const long Op = round_up(outputs, 16), per = Op * inputs;
    for (long ob = ob0; ob < ob1; ob++) {
        const long width = Op - 32 * ob < 32 ? Op - 32 * ob : 32;
        for (long c = 0; c < inputs; c++)
            for (long b = 32 * ob / MR; b < (32 * ob + width) / MR; b++)
                (m == 4 ? pack_block4 : pack_block2)(w, outputs, inputs, b, c, per, packed + ob * 32 * inputs + c * width + (b * MR - 32 * ob));
    }
#else
    (void)m; (void)w; (void)outputs; (void)inputs; (void)ob0; (void)ob1; (void)packed;
#endif
}

// The scratch of one call, in floats (each part a multiple of 16, so that every part
// starts on a cache line): the channels-last samples one block can touch, V and M of one
// block, a chunk's four output rows (channels-last), the epilogue's per-channel vectors, and the block's segments.
typedef struct { long sample, samples, V, M, rows, epilogue, segs; } forward_layout;

static forward_layout forward_layout_of(const wgeometry *g, int C) {
    forward_layout l;
    const long Cp = round_up(C, 16);
    l.sample = channels_last_count(g, (int)Cp);
    l.samples = g->slots * l.sample;
    const long planes = (long)(g->m + 2) * (g->m + 2);
    l.V = planes * xi_stride(g->TB * Cp);
    l.M = planes * xi_stride(g->TB * g->Opad);
    l.rows = 4L * CHUNK_COLUMNS * CHUNK_CHANNELS;
    l.epilogue = 4 * g->Opad;
    l.segs = round_up((segments_max(g) * (long)sizeof(segment) + 3) / 4 + 2, 16);
    return l;
}

long tlc_winograd_scratch_count(int m, int outputs, int inputs, int H, int W, int pad) {
    const wgeometry g = forward_geometry(m, outputs, inputs, H, W, pad);
    const forward_layout l = forward_layout_of(&g, inputs);
    return l.samples + l.V + l.M + l.rows + l.epilogue + l.segs + 16;
}

#ifdef TLC_X86
// The epilogue's per-channel vectors (bias always, +0 without one; the batch norm's when `mean`), zero past the outputs.
// With `argmax` (even planes), each tile's ReLU outputs are max-pooled in 2×2 windows: y gets
// the pooled planes and argmax each window's winner's index in its output plane.
typedef struct { const float *bias, *mean, *scale, *shift; int relu; float ceiling; int *argmax; } epilogue;

// Eight planes' row segment src[k·plane + j], j < n (n ≤ 8; through `mask` when `masked`: a value
// counts only where mask > 0) into columns j of dst (dst + j·Cp): one 8 × 8 transpose.
static inline __attribute__((always_inline, target("avx2")))
void eight_planes_to_columns(const float *src, const float *mask, long plane, int n, int masked, float *dst, long Cp) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 r[8];
    if (n == 8) {
        for (int k = 0; k < 8; k++) {
            r[k] = _mm256_loadu_ps(src + k * plane);
            if (masked) r[k] = _mm256_and_ps(r[k], _mm256_cmp_ps(_mm256_loadu_ps(mask + k * plane), zero, _CMP_GT_OQ));
        }
    } else {
        const __m256i lanes = first_lanes(n);
        for (int k = 0; k < 8; k++) {
            r[k] = _mm256_maskload_ps(src + k * plane, lanes);
            if (masked) r[k] = _mm256_and_ps(r[k], _mm256_cmp_ps(_mm256_maskload_ps(mask + k * plane, lanes), zero, _CMP_GT_OQ));
        }
    }
    transpose8(r);
    for (int j = 0; j < n; j++) _mm256_storeu_ps(dst + j * Cp, r[j]);
}

// Channels c0 … c0 + 7 (xs and mask at channel c0) into X's channels-last rows (`values` at row
// pad, column pad, channel c0; rows `row` floats apart): the eight planes row after row, read as
// eight sequential streams.
static inline __attribute__((always_inline, target("avx2")))
void eight_planes_channels_last(const float *xs, const float *mask, int masked, int H, int W, long Cp, long row, float *values) {
    const long plane = (long)H * W;
    for (int i = 0; i < H; i++) {
        const long at = (long)i * W;
        for (int j0 = 0; j0 < W; j0 += 8)
            eight_planes_to_columns(xs + at + j0, masked ? mask + at + j0 : NULL, plane, W - j0 < 8 ? W - j0 : 8, masked,
                                    values + i * row + j0 * Cp, Cp);
    }
}

// Sample xs (C × H × W) channels-last into X: X[i][j][c] = padded[c][i][j] for the PH × PW
// padded plane, zero for channels C … Cp − 1; with `mask` a value counts only where mask > 0.
// Eight channels at a time, each group's planes read in order: reading each row of all C
// planes before the next row had kept C streams open and took 24–28 % of a 32 → 32 forward
// pass at 28² on an Emerald Rapids core (17 % now), waiting on its loads.
__attribute__((target("avx2")))
static void to_channels_last(const float *xs, const float *mask, int C, int Cp, int H, int W, int pad, const wgeometry *g, float *X) {
    const long PW = g->PW, row = PW * Cp, plane = (long)H * W;
    const int C8 = C / 8 * 8;
    memset(X, 0, (size_t)(pad * row) * sizeof(float));
    memset(X + (H + pad) * row, 0, (size_t)((g->PH - H - pad) * row) * sizeof(float));
    for (int i = 0; i < H; i++) {
        float *dst = X + (i + pad) * row;
        memset(dst, 0, (size_t)(pad * Cp) * sizeof(float));
        memset(dst + (pad + W) * Cp, 0, (size_t)((PW - pad - W) * Cp) * sizeof(float));
        float *values = dst + pad * Cp;   // column j at values + j·Cp
        for (int c = C8; c < C; c++) {
            const float *src = xs + (long)c * plane + (long)i * W, *m = mask ? mask + (src - xs) : NULL;
            for (int j = 0; j < W; j++) values[(long)j * Cp + c] = m ? (m[j] > 0 ? src[j] : 0.0f) : src[j];
        }
        if (Cp > C)
            for (int j = 0; j < W; j++) memset(values + (long)j * Cp + C, 0, (size_t)(Cp - C) * sizeof(float));
    }
    float *values = X + pad * row + pad * Cp;
    for (int c0 = 0; c0 < C8; c0 += 8) {
        const long at = (long)c0 * plane;
        if (mask) eight_planes_channels_last(xs + at, mask + at, 1, H, W, Cp, row, values + c0);
        else eight_planes_channels_last(xs + at, NULL, 0, H, W, Cp, row, values + c0);
    }
}

__attribute__((target("avx2")))
void winograd_load_samples(const wgeometry *g, const segment *segs, int nsegs, const float *x, const float *mask, int C, int Cp, int H,
                         int W, int pad, float *const *slots, int *loaded) {
    const long inPlane = (long)C * H * W;
    for (int k = 0; k < nsegs; k++) {
        const int s = segs[k].s, slot = s % g->slots;
        if (loaded[slot] != s) {
            to_channels_last(x + s * inPlane, mask ? mask + s * inPlane : NULL, C, Cp, H, W, pad, g, slots[slot]);
            loaded[slot] = s;
        }
    }
}

// `nrows` rows of a chunk, channels-last in `rows` (row d at rows + d·CHUNK_COLUMNS·CHUNK_CHANNELS,
// column j at + j·CHUNK_CHANNELS, channel o at + o − o0), into planes of `plane` floats and rows of
// `width`: row d's columns 0 … cols − 1 to ys + d·width + o·plane for channels o0 … o1 − 1 (past O
// ignored); 8 × 8 transposes, a row's last columns copied from a vector's first lanes.
__attribute__((target("avx2")))
static void chunk_to_planes(const float *rows, int nrows, int O, long plane, int width, int cols, int o0, int o1, float *ys) {
    const long rowsStride = (long)CHUNK_COLUMNS * CHUNK_CHANNELS;
    const int oEnd = o1 < O ? o1 : O;
    for (int d = 0; d < nrows; d++) {
        const float *src = rows + d * rowsStride;
        float *dst = ys + (long)d * width;
        for (int o = o0; o < oEnd; o += 8) {
            const int no = oEnd - o < 8 ? oEnd - o : 8;
            for (int c0 = 0; c0 < cols; c0 += 8) {
                const int nc = cols - c0 < 8 ? cols - c0 : 8;
                __m256 r[8];
                for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_ps(src + (long)(c0 + k) * CHUNK_CHANNELS + (o - o0));
                transpose8(r);
                for (int k = 0; k < no; k++) {
                    float *p = dst + (long)(o + k) * plane + c0;
                    if (nc == 8) _mm256_storeu_ps(p, r[k]);
                    else {
                        // Not vmaskmovps (AMD microcodes masked stores: a sixth of the first Winograd's time on
                        // Zen), nor memcpy (a call per row and channel: 6 % of the cnn's training; the compiler
                        // had made the scalar loop that replaced it a memcpy again): 4, 2 and 1 lanes.
                        __m128 part = _mm256_castps256_ps128(r[k]);
                        int rest = nc;
                        if (rest >= 4) { _mm_storeu_ps(p, part); part = _mm256_extractf128_ps(r[k], 1); p += 4; rest -= 4; }
                        if (rest >= 2) { _mm_storel_pi((__m64 *)p, part); part = _mm_movehl_ps(part, part); p += 2; rest -= 2; }
                        if (rest) _mm_store_ss(p, part);
                    }
                }
            }
        }
    }
}

// Output rows m·ti … of a chunk (see chunk_to_planes) into y's planes at columns j0 … j0 + cols − 1.
static void rows_to_planes(const wgeometry *g, int O, const float *rows, int s, int ti, int j0, int cols, int o0, int o1, float *y) {
    const long plane = (long)g->OH * g->OW;
    const int nrows = g->OH - g->m * ti < g->m ? g->OH - g->m * ti : g->m;
    chunk_to_planes(rows, nrows, O, plane, g->OW, cols, o0, o1, y + (long)s * O * plane + (long)g->m * ti * g->OW + j0);
}

// A chunk's pooled rows (m / 2 of them from tile row ti: rows 0 … m / 2 − 1 of `rows`) and their
// winners' indices (the next m / 2 rows) into the pooled planes ((OH / 2) × (OW / 2)) and argmax:
// pooled columns c0 … c1 − 1 (those past OW / 2, and rows past OH / 2, dropped).
static void pooled_rows_to_planes(const wgeometry *g, int O, const float *rows, int s, int ti, int c0, int c1, int o0, int o1, float *y,
                                  int *argmax) {
    const int width = g->OW / 2, height = g->OH / 2, half = g->m / 2, row0 = half * ti;
    const int nrows = height - row0 < half ? height - row0 : half, cols = (c1 < width ? c1 : width) - c0;
    const long plane = (long)height * width, at = (long)s * O * plane + (long)row0 * width + c0;
    chunk_to_planes(rows, nrows, O, plane, width, cols, o0, o1, y + at);
    chunk_to_planes(rows + (long)half * CHUNK_COLUMNS * CHUNK_CHANNELS, nrows, O, plane, width, cols, o0, o1, (float *)(argmax + at));
}

// What one call's blocks need: the tiles tBegin … tEnd − 1 of x's samples.
typedef struct {
    const wgeometry *g; const forward_layout *l;
    const float *x, *mask; long tBegin, tEnd; int C, Cp, H, W, pad;
    const float *packed; int outputs; const epilogue *e;
    float *const *slots; int *loaded; float *V, *M, *rows; segment *segs; float *y;
} blocks_call;

#define WL_TARGET "avx512f"
#define WL_VEC __m512
#define WL_LANES 16
#define WL_NT 12
#define WL_NAME(x) x##_512
#define WL_LOAD _mm512_loadu_ps
#define WL_STORE _mm512_storeu_ps
#define WL_ADD _mm512_add_ps
#define WL_SUB _mm512_sub_ps
#define WL_MUL _mm512_mul_ps
#define WL_SET1 _mm512_set1_ps
#define WL_ZERO _mm512_setzero_ps
#define WL_FMA _mm512_fmadd_ps
#define WL_ZERO_IF_NEGATIVE(v) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, _mm512_setzero_ps())
#define WL_ZERO_IF_NOT_POSITIVE(v) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LE_OQ), v, _mm512_setzero_ps())
#define WL_CLAMP(v, c) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, c, _CMP_GT_OQ), v, c)
#define WL_IF_GREATER(v, best, yes, no) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, best, _CMP_GT_OQ), no, yes)
#define WL_SET1_BITS(i) _mm512_castsi512_ps(_mm512_set1_epi32(i))
#include "winograd_lanes.h"
#undef WL_TARGET
#undef WL_VEC
#undef WL_LANES
#undef WL_NT
#undef WL_NAME
#undef WL_LOAD
#undef WL_STORE
#undef WL_ADD
#undef WL_SUB
#undef WL_MUL
#undef WL_SET1
#undef WL_ZERO
#undef WL_FMA
#undef WL_ZERO_IF_NEGATIVE
#undef WL_ZERO_IF_NOT_POSITIVE
#undef WL_CLAMP
#undef WL_IF_GREATER
#undef WL_SET1_BITS

#define WL_TARGET "avx2,fma"
#define WL_VEC __m256
#define WL_LANES 8
#define WL_NT 6
#define WL_NAME(x) x##_256
#define WL_LOAD _mm256_loadu_ps
#define WL_STORE _mm256_storeu_ps
#define WL_ADD _mm256_add_ps
#define WL_SUB _mm256_sub_ps
#define WL_MUL _mm256_mul_ps
#define WL_SET1 _mm256_set1_ps
#define WL_ZERO _mm256_setzero_ps
#define WL_FMA _mm256_fmadd_ps
#define WL_ZERO_IF_NEGATIVE(v) _mm256_blendv_ps(v, _mm256_setzero_ps(), _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ))
#define WL_ZERO_IF_NOT_POSITIVE(v) _mm256_blendv_ps(v, _mm256_setzero_ps(), _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LE_OQ))
#define WL_CLAMP(v, c) _mm256_blendv_ps(v, c, _mm256_cmp_ps(v, c, _CMP_GT_OQ))
#define WL_IF_GREATER(v, best, yes, no) _mm256_blendv_ps(no, yes, _mm256_cmp_ps(v, best, _CMP_GT_OQ))
#define WL_SET1_BITS(i) _mm256_castsi256_ps(_mm256_set1_epi32(i))
#include "winograd_lanes.h"

// The convolution of tiles tBegin … tEnd − 1 of x's samples (y likewise) in tiles of m. With
// `ownSlots` NULL the samples are copied channels-last into the scratch; otherwise into (or,
// where loaded[s % nslots] == s, read from) ownSlots, sample s in ownSlots[s % nslots].
__attribute__((target("avx2")))
static void winograd_run(int m, int level, const float *x, const float *mask, long tBegin, long tEnd, int C, int H, int W,
                         const float *packed, const float *bias, int outputs, int pad, const float *mean, const float *scale,
                         const float *shift, int relu, float ceiling, int *argmax, float *scratch, float *y, float *const *ownSlots,
                         int *ownLoaded, int nslots) {
    wgeometry g = forward_geometry(m, outputs, C, H, W, pad);
    const forward_layout l = forward_layout_of(&g, C);
    const int Cp = (int)round_up(C, 16);
    // Every part on a cache line: the scratch starts on one (the engine's workspaces do) or is moved to one.
    float *base = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *V = base + l.samples, *M = V + l.V, *rows = M + l.M, *vectors = rows + l.rows;
    segment *segs = (segment *)(vectors + l.epilogue);
    float *slotsHere[64];
    int loadedHere[64];
    float *const *slots = ownSlots ? ownSlots : slotsHere;
    int *loaded = ownSlots ? ownLoaded : loadedHere;
    if (ownSlots) g.slots = nslots;
    else for (int i = 0; i < g.slots; i++) { slotsHere[i] = base + i * l.sample; loadedHere[i] = -1; }
    // The epilogue's vectors, zero past the outputs.
    float *vb = vectors, *vm = vb + g.Opad, *vs = vm + g.Opad, *vt = vs + g.Opad;
    memset(vectors, 0, (size_t)l.epilogue * sizeof(float));
    for (int o = 0; o < outputs; o++) {
        vb[o] = bias ? bias[o] : 0.0f;
        if (mean) { vm[o] = mean[o]; vs[o] = scale[o]; vt[o] = shift[o]; }
    }
    const epilogue e = {vb, mean ? vm : NULL, vs, vt, relu, ceiling, argmax};
    const blocks_call call = {&g, &l, x, mask, tBegin, tEnd, C, Cp, H, W, pad, packed, outputs, &e,
                              slots, loaded, V, M, rows, segs, y};
    if (level >= 2) winograd_blocks_512(&call);
    else winograd_blocks_256(&call);
}

long winograd_block_tiles(int m, int outputs, int inputs, int H, int W, int pad) { return forward_geometry(m, outputs, inputs, H, W, pad).TB; }

void winograd_conv_loaded(int m, int level, const float *x, const float *mask, long tBegin, long tEnd, int C, int H, int W, const float *packed,
                          int outputs, int pad, float *const *slots, int *loaded, int nslots, float *scratch, float *y) {
    winograd_run(m, level, x, mask, tBegin, tEnd, C, H, W, packed, NULL, outputs, pad, NULL, NULL, NULL, 0, INFINITY, NULL, scratch, y,
                 slots, loaded, nslots);
}

void winograd_transform_input(int level, const wgeometry *g, int Cp, float *const *slots, const segment *segs, int nsegs, long used,
                              float *V) {
    if (level >= 2) transform_input_call_512(g, Cp, slots, segs, nsegs, used, V);
    else transform_input_call_256(g, Cp, slots, segs, nsegs, used, V);
}
#endif

void tlc_winograd_conv(int m, int level, const float *x, const float *mask, int samples, int C, int H, int W, const float *packed,
                       const float *bias, int outputs, int pad, const float *mean, const float *scale, const float *shift, int relu, float ceiling,
                       float *scratch, float *y) {
#ifdef TLC_X86
    const long tiles = (long)samples * forward_geometry(m, outputs, C, H, W, pad).T;
    winograd_run(m, level, x, mask, 0, tiles, C, H, W, packed, bias, outputs, pad, mean, scale, shift, relu, ceiling, NULL, scratch, y,
                 NULL, NULL, 0);
#else
    (void)m; (void)level; (void)x; (void)mask; (void)samples; (void)C; (void)H; (void)W; (void)packed; (void)bias; (void)outputs;
    (void)pad; (void)mean; (void)scale; (void)shift; (void)relu; (void)ceiling; (void)scratch; (void)y;
#endif
}

void tlc_winograd_conv_relu_pool(int m, int level, const float *x, int samples, int C, int H, int W, const float *packed, const float *bias,
                                 int outputs, int pad, float *scratch, float *pooled, int *argmax) {
#ifdef TLC_X86
    const long tiles = (long)samples * forward_geometry(m, outputs, C, H, W, pad).T;
    winograd_run(m, level, x, NULL, 0, tiles, C, H, W, packed, bias, outputs, pad, NULL, NULL, NULL, 1, INFINITY, argmax, scratch, pooled,
                 NULL, NULL, 0);
#else
    (void)m; (void)level; (void)x; (void)samples; (void)C; (void)H; (void)W; (void)packed; (void)bias; (void)outputs; (void)pad; (void)scratch;
    (void)pooled; (void)argmax;
#endif
}
