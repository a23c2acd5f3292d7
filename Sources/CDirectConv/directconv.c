// CDirectConv — direct stride-1 NCHW float convolution with AVX-512 or AVX2 fused
// multiply-adds (register tiles of MR channels × 16·V positions). See cdirectconv.h.
#include "cdirectconv.h"
#include "direct.h"
#include "geometry.h"
#include "winograd.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define TLC_X86 1
#endif

// The epilogue's batch norm must round as BatchNorm's (v − mean)·scale + shift does: no fused multiply-add.
#pragma clang fp contract(off)

// Tile shapes: output channels per tile (broadcast weights) and vectors of 16 positions;
// shapes 3 and 4 are Winograd F(2×2, 3×3) and F(4×4, 3×3) (winograd.c).
enum { WINOGRAD = 3, WINOGRAD4 = 4 };
static int winograd_tile_of(int shape) { return shape == WINOGRAD4 ? 4 : 2; }
static const int MRs[3] = {8, 8, 16};
static const int Vs[3] = {3, 2, 1};

int tlc_direct_conv_level(void) {
#ifdef TLC_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

long direct_blocks(int shape, int outputs) { return (outputs + MRs[shape] - 1) / MRs[shape]; }
int direct_rows(int shape) { return MRs[shape]; }
long direct_tile_positions(int shape) { return 16L * Vs[shape]; }

int tlc_direct_conv_shape(int outputs, int inputs, int H, int W, int k, int pad) {
    if (tlc_winograd_tile(outputs, inputs, H, W, k, pad, 0)) return WINOGRAD;
    return direct_tile_shape(outputs, H, W, k, pad);
}

int tlc_direct_conv_forward_shape(int outputs, int inputs, int H, int W, int k, int pad) {
    const int m = tlc_winograd_tile(outputs, inputs, H, W, k, pad, 1);
    if (m) return m == 4 ? WINOGRAD4 : WINOGRAD;
    return direct_tile_shape(outputs, H, W, k, pad);
}

int direct_tile_shape(int outputs, int H, int W, int k, int pad) {
    // The least time: multiply-adds (positions rounded up to tiles times channels rounded up
    // to blocks), weighted by what each tile shape reaches per multiply-add as measured on
    // planes of 7² to 224² (8 × 32 the fastest, then 8 × 48; 16 × 16 waits on its 17 loads
    // per 16 multiply-adds).
    static const int weights[3] = {33, 32, 34};
    int best = 0;
    long bestWork = -1;
    for (int s = 0; s < 3; s++) {
        geometry g = geometry_of(16 * Vs[s], H, W, k, pad);
        long work = g.Qt * direct_blocks(s, outputs) * MRs[s] * weights[s];
        if (bestWork < 0 || work < bestWork) { best = s; bestWork = work; }
    }
    return best;
}

long tlc_direct_conv_packed_count(int shape, int outputs, int inputs, int k) {
    if (shape >= WINOGRAD) return tlc_winograd_packed_count(winograd_tile_of(shape), outputs, inputs);
    return direct_blocks(shape, outputs) * inputs * k * k * MRs[shape];
}

void tlc_direct_conv_pack(int shape, const float *w, int outputs, int inputs, int k, float *packed) {
    tlc_direct_conv_pack_part(shape, w, outputs, inputs, k, 0, 1, packed);
}

void tlc_direct_conv_pack_part(int shape, const float *w, int outputs, int inputs, int k, int part, int parts, float *packed) {
    if (shape >= WINOGRAD) {
        const long units = tlc_winograd_pack_units(outputs);
        tlc_winograd_pack(winograd_tile_of(shape), w, outputs, inputs, units * part / parts, units * (part + 1) / parts, packed);
        return;
    }
    const long blocks = direct_blocks(shape, outputs);
    direct_pack_taps(shape, w, outputs, (long)inputs * k * k, blocks * part / parts, blocks * (part + 1) / parts, packed);
}

void direct_pack_taps(int shape, const float *w, int outputs, long taps, long b0, long b1, float *packed) {
    const int mr = MRs[shape];
    for (long b = b0; b < b1; b++)
        for (long t = 0; t < taps; t++)
            for (int r = 0; r < mr; r++) {
                long o = b * mr + r;
                packed[(b * taps + t) * mr + r] = o < outputs ? w[o * taps + t] : 0;
            }
}

// Input channels per block of the two-level sum: about 288 multiply-adds per block (32
// channels of a 3×3 kernel), as accurate as BLAS's blocked sums (a single chain over a
// 512-channel layer's 4,608 taps flipped near-ties of max pooling that float64 resolves).
// Channels of kh × kw taps each: 288 / (kh·kw) per block.
static int channel_block(int taps) { return 288 / taps > 1 ? 288 / taps : 1; }

long tlc_direct_conv_scratch_count(int shape, int outputs, int inputs, int H, int W, int k, int pad) {
    if (shape >= WINOGRAD) return tlc_winograd_scratch_count(winograd_tile_of(shape), outputs, inputs, H, W, pad);
    geometry g = geometry_of(16 * Vs[shape], H, W, k, pad);
    return padded_count(&g, inputs, k) + direct_blocks(shape, outputs) * MRs[shape] * g.Qt;
}

#ifdef TLC_X86
// One tile: MR channels at wide positions q0 … q0 + 16·V − 1, over input channels c0 … c1 − 1
// and their kh × kw taps (weights w: [c][ki][kj][MR] from c0), into out[r][q]: the `first`
// block of a sum starts from the bias and stores, every later one starts from zero and adds
// its sum to out (a two-level sum, so that no output is one chain of C·k·k multiply-adds;
// see channel_block).
// Every loop over r and v unrolls, so acc stays in registers.
#define UNROLLED _Pragma("clang loop unroll(full)")
static inline __attribute__((always_inline, target("avx512f")))
void tile(const int MR, const int V, const float *in, const geometry *g, int c0, int c1, int kh, int kw, const float *w,
          const float *bias, int first, int rows, long q0, float *out) {
    __m512 acc[48];   // acc[r·V + v]
    UNROLLED for (int r = 0; r < MR; r++) {
        __m512 b = _mm512_set1_ps(first && bias && r < rows ? bias[r] : 0);
        UNROLLED for (int v = 0; v < V; v++) acc[r * V + v] = b;
    }
    for (int c = c0; c < c1; c++) {
        const float *plane = in + (long)c * g->plane + q0;
        for (int ki = 0; ki < kh; ki++)
            for (int kj = 0; kj < kw; kj++, w += MR) {
                const float *src = plane + (long)ki * g->PW + kj;
                __m512 x[3];
                UNROLLED for (int v = 0; v < V; v++) x[v] = _mm512_loadu_ps(src + 16 * v);
                UNROLLED for (int r = 0; r < MR; r++) {
                    __m512 wr = _mm512_set1_ps(w[r]);
                    UNROLLED for (int v = 0; v < V; v++) acc[r * V + v] = _mm512_fmadd_ps(wr, x[v], acc[r * V + v]);
                }
            }
    }
    UNROLLED for (int r = 0; r < MR; r++)
        UNROLLED for (int v = 0; v < V; v++) {
            float *o = out + (long)r * g->Qt + q0 + 16 * v;
            _mm512_storeu_ps(o, first ? acc[r * V + v] : _mm512_add_ps(_mm512_loadu_ps(o), acc[r * V + v]));
        }
}

__attribute__((target("avx512f"))) static void tile_8x48(const float *in, const geometry *g, int c0, int c1, int kh, int kw, const float *w,
                                                        const float *bias, int first, int rows, long q0, float *out) {
    tile(8, 3, in, g, c0, c1, kh, kw, w, bias, first, rows, q0, out);
}
__attribute__((target("avx512f"))) static void tile_8x32(const float *in, const geometry *g, int c0, int c1, int kh, int kw, const float *w,
                                                        const float *bias, int first, int rows, long q0, float *out) {
    tile(8, 2, in, g, c0, c1, kh, kw, w, bias, first, rows, q0, out);
}
__attribute__((target("avx512f"))) static void tile_16x16(const float *in, const geometry *g, int c0, int c1, int kh, int kw, const float *w,
                                                         const float *bias, int first, int rows, long q0, float *out) {
    tile(16, 1, in, g, c0, c1, kh, kw, w, bias, first, rows, q0, out);
}

// AVX2: the same region as a tile of shape `shape` (MR channels × 16·V positions), in
// sub-tiles of 4 channels × 16 positions (8 accumulators of 8 lanes); each output is the
// same chain of multiply-adds, so the result is bitwise the AVX-512 tile's.
__attribute__((target("avx2,fma"))) static void tile_avx2(int MR, int V, const float *in, const geometry *g, int c0, int c1, int kh, int kw,
                                                          const float *wc, const float *bias, int first, int rows, long q0, float *out) {
    for (int r0 = 0; r0 < MR; r0 += 4)
        for (int v = 0; v < V; v++) {
            const long q = q0 + 16L * v;
            __m256 acc[4][2];
            UNROLLED for (int r = 0; r < 4; r++) {
                __m256 b = _mm256_set1_ps(first && bias && r0 + r < rows ? bias[r0 + r] : 0);
                acc[r][0] = b; acc[r][1] = b;
            }
            const float *w = wc + r0;
            for (int c = c0; c < c1; c++) {
                const float *plane = in + (long)c * g->plane + q;
                for (int ki = 0; ki < kh; ki++)
                    for (int kj = 0; kj < kw; kj++, w += MR) {
                        const float *src = plane + (long)ki * g->PW + kj;
                        __m256 x0 = _mm256_loadu_ps(src), x1 = _mm256_loadu_ps(src + 8);
                        UNROLLED for (int r = 0; r < 4; r++) {
                            __m256 wr = _mm256_set1_ps(w[r]);
                            acc[r][0] = _mm256_fmadd_ps(wr, x0, acc[r][0]);
                            acc[r][1] = _mm256_fmadd_ps(wr, x1, acc[r][1]);
                        }
                    }
            }
            if (!first) {
                UNROLLED for (int r = 0; r < 4; r++) {
                    const float *o = out + (long)(r0 + r) * g->Qt + q;
                    acc[r][0] = _mm256_add_ps(_mm256_loadu_ps(o), acc[r][0]);
                    acc[r][1] = _mm256_add_ps(_mm256_loadu_ps(o + 8), acc[r][1]);
                }
            }
            UNROLLED for (int r = 0; r < 4; r++) {
                _mm256_storeu_ps(out + (long)(r0 + r) * g->Qt + q, acc[r][0]);
                _mm256_storeu_ps(out + (long)(r0 + r) * g->Qt + q + 8, acc[r][1]);
            }
        }
}
#endif

#ifdef TLC_X86
// The convolution; compiled for AVX2 (which every level has) so that the copies and the
// epilogue vectorize; the tiles are chosen by level.
__attribute__((target("avx2,fma")))
static void direct_conv(int level, int shape, const float *x, const float *mask, int samples, int C, int H, int W, const float *packed,
                        const float *bias, int outputs, int k, int pad, const float *mean, const float *scale, const float *shift, int relu, float ceiling,
                        float *scratch, float *y) {
    const geometry g = geometry_of(16 * Vs[shape], H, W, k, pad);
    const long paddedCount = padded_count(&g, C, k);
    float *in = scratch, *wide = scratch + paddedCount;
    const int mr = MRs[shape];
    const long qt = 16L * Vs[shape];
    const long outPlane = (long)g.OH * g.OW;
    const tap_group all = {0, C, k, k, packed};
    // A 1×1 convolution without padding whose planes fill whole tiles reads each sample
    // where it is (its planes are the padded planes), and writes straight into y when its
    // channels fill whole blocks (the wide rows are y's planes): the same sums, no copies.
    const int readsInPlace = k == 1 && pad == 0 && !mask && g.Q == g.Qt;
    const int writesInPlace = readsInPlace && outputs % mr == 0;
    for (int s = 0; s < samples; s++) {
        const float *xs = x + (long)s * C * H * W;
        float *ys = y + (long)s * outputs * outPlane;
        if (!readsInPlace) pad_sample(xs, mask ? mask + (long)s * C * H * W : NULL, C, H, W, pad, &g, paddedCount, in);
        const float *src = readsInPlace ? xs : in;
        float *wideOut = writesInPlace ? ys : wide;
        // Positions outer, channel blocks inner: the input rows a tile reads stay in cache
        // while every block of output channels uses them (a 224×224 plane does not fit).
        // Written in place, the epilogue follows each chunk of positions while its outputs
        // are still in cache (about 128 KB of them), instead of one more pass over the sample.
        const int finishes = mean || relu;
        const long chunk = writesInPlace && finishes ? (32768 / outputs / qt > 1 ? 32768 / outputs / qt : 1) * qt : g.Qt;
        for (long qa = 0; qa < g.Qt; qa += chunk) {
            const long qb = qa + chunk < g.Qt ? qa + chunk : g.Qt;
            direct_positions(level, shape, src, &g, &all, 1, outputs, bias, qa, qb, wideOut);
            // In place the wide rows are y's planes (Q = OH·OW, no columns past OW): the chunk's
            // positions of every output channel, in place.
            if (writesInPlace && finishes)
                for (int o = 0; o < outputs; o++) {
                    float *p = ys + o * outPlane + qa;
                    finish_row(p, p, (int)(qb - qa), mean != NULL, mean ? mean[o] : 0, mean ? scale[o] : 0, mean ? shift[o] : 0, relu, ceiling);
                }
        }
        if (writesInPlace) continue;   // y holds the sums, finished
        direct_finish(wideOut, &g, outputs, mean, scale, shift, relu, ceiling, ys);
    }
}

__attribute__((target("avx2,fma")))
void direct_positions(int level, int shape, const float *src, const geometry *g, const tap_group *groups, int count, int outputs,
                      const float *bias, long qa, long qb, float *wideOut) {
    const int mr = MRs[shape];
    const long qt = 16L * Vs[shape], blocks = direct_blocks(shape, outputs);
    for (long q0 = qa; q0 < qb; q0 += qt)
        for (long b = 0; b < blocks; b++) {
            const int rows = outputs - b * mr < mr ? (int)(outputs - b * mr) : mr;
            const float *bb = bias ? bias + b * mr : NULL;
            float *out = wideOut + b * mr * g->Qt;
            int first = 1;
            for (int t = 0; t < count; t++) {
                const tap_group *tg = &groups[t];
                const long taps = (long)tg->kh * tg->kw;
                const float *wb = tg->packed + b * (tg->c1 - tg->c0) * taps * mr;
                const int cb = channel_block((int)taps);
                for (int c0 = tg->c0; c0 < tg->c1; c0 += cb, first = 0) {
                    const int c1 = c0 + cb < tg->c1 ? c0 + cb : tg->c1;
                    const float *w = wb + (c0 - tg->c0) * taps * mr;
                    if (level < 2) { tile_avx2(mr, Vs[shape], src, g, c0, c1, tg->kh, tg->kw, w, bb, first, rows, q0, out); continue; }
                    switch (shape) {
                    case 0: tile_8x48(src, g, c0, c1, tg->kh, tg->kw, w, bb, first, rows, q0, out); break;
                    case 1: tile_8x32(src, g, c0, c1, tg->kh, tg->kw, w, bb, first, rows, q0, out); break;
                    default: tile_16x16(src, g, c0, c1, tg->kh, tg->kw, w, bb, first, rows, q0, out); break;
                    }
                }
            }
        }
}

__attribute__((target("avx2,fma")))
void direct_finish(const float *wideOut, const geometry *g, int outputs, const float *mean, const float *scale, const float *shift,
                   int relu, float ceiling, float *ys) {
    const long outPlane = (long)g->OH * g->OW;
    for (int o = 0; o < outputs; o++) {
        const float m = mean ? mean[o] : 0, sc = mean ? scale[o] : 0, sh = mean ? shift[o] : 0;
        for (int i = 0; i < g->OH; i++) {
            const float *row = wideOut + (long)o * g->Qt + (long)i * g->PW;
            float *dst = ys + o * outPlane + (long)i * g->OW;
            finish_row(row, dst, g->OW, mean != NULL, m, sc, sh, relu, ceiling);
        }
    }
}
#endif

int tlc_pointwise_prefers_blas(void) {
#ifdef TLC_X86
    __builtin_cpu_init();
    return __builtin_cpu_is("intel");
#else
    return 1;
#endif
}

void tlc_direct_conv_epilogue(float *y, int outputs, int count, long stride, const float *mean, const float *scale, const float *shift,
                              int relu, float ceiling) {
    for (int o = 0; o < outputs; o++) {
        float *p = y + (long)o * stride;
        finish_row(p, p, count, mean != NULL, mean ? mean[o] : 0, mean ? scale[o] : 0, mean ? shift[o] : 0, relu, ceiling);
    }
}

void tlc_direct_conv(int level, int shape, const float *x, const float *mask, int samples, int C, int H, int W, const float *packed,
                     const float *bias, int outputs, int k, int pad, const float *mean, const float *scale, const float *shift, int relu, float ceiling,
                     float *scratch, float *y) {
#ifdef TLC_X86
    if (level >= 1 && shape >= WINOGRAD)
        tlc_winograd_conv(winograd_tile_of(shape), level, x, mask, samples, C, H, W, packed, bias, outputs, pad, mean, scale, shift, relu, ceiling, scratch, y);
    else if (level >= 1) direct_conv(level, shape, x, mask, samples, C, H, W, packed, bias, outputs, k, pad, mean, scale, shift, relu, ceiling, scratch, y);
#else
    (void)level; (void)shape; (void)x; (void)mask; (void)samples; (void)C; (void)H; (void)W; (void)packed; (void)bias; (void)outputs; (void)k; (void)pad;
    (void)mean; (void)scale; (void)shift; (void)relu; (void)ceiling; (void)scratch; (void)y;
#endif
}

void tlc_direct_conv_backward(int level, const float *x, const float *dy, const float *mask, int samples, int C, int H, int W, int outputs,
                              int k, int pad, float *gradScratch, float *dW, float *db, int dxShape, const float *packed,
                              float *dxScratch, float *dx) {
#ifdef TLC_X86
    // dW takes the forward pass's tiles; dx shares dy's copy where it takes the same.
    const int shape = tlc_direct_conv_forward_shape(outputs, C, H, W, k, pad);
    if (level >= 1 && pad == 1 && shape >= WINOGRAD && dxShape == shape) {
        tlc_winograd_backward(winograd_tile_of(shape), level, x, dy, mask, samples, C, H, W, outputs, gradScratch, dW, db, packed, dxScratch, dx);
        return;
    }
#endif
    const int OH = H + 2 * pad - k + 1, OW = W + 2 * pad - k + 1;
    tlc_direct_conv_weight_grad(level, x, dy, mask, samples, C, H, W, outputs, k, pad, gradScratch, dW, db);
    tlc_direct_conv(level, dxShape, dy, mask, samples, outputs, OH, OW, packed, NULL, C, k, k - 1 - pad, NULL, NULL, NULL, 0, INFINITY,
                    dxScratch, dx);
}

int tlc_direct_conv_backward_pooled(int level, const float *x, const float *dy, const float *y, const int *argmax, int samples, int C, int H,
                                    int W, int outputs, int k, int pad, float *gradScratch, float *dW, float *db, int dxShape,
                                    const float *packed, float *dxScratch, float *dx) {
#ifdef TLC_X86
    const int shape = tlc_direct_conv_forward_shape(outputs, C, H, W, k, pad);
    if (level >= 1 && pad == 1 && tlc_direct_conv_pools(shape, H, W, k, pad) && (!dx || dxShape == shape)) {
        tlc_winograd_backward_pooled(winograd_tile_of(shape), level, x, dy, y, argmax, samples, C, H, W, outputs, gradScratch, dW, db, packed,
                                     dxScratch, dx);
        return 1;
    }
#else
    (void)level; (void)x; (void)dy; (void)y; (void)argmax; (void)samples; (void)C; (void)H; (void)W; (void)outputs; (void)k; (void)pad;
    (void)gradScratch; (void)dW; (void)db; (void)dxShape; (void)packed; (void)dxScratch; (void)dx;
#endif
    return 0;
}

int tlc_direct_conv_pools(int shape, int H, int W, int k, int pad) {
    const int OH = H + 2 * pad - k + 1, OW = W + 2 * pad - k + 1;
    return (shape == WINOGRAD || shape == WINOGRAD4) && OH % 2 == 0 && OW % 2 == 0;
}

void tlc_direct_conv_relu_pool(int level, int shape, const float *x, int samples, int C, int H, int W, const float *packed, const float *bias,
                               int outputs, int k, int pad, float *scratch, float *pooled, int *argmax) {
#ifdef TLC_X86
    if (level >= 1 && tlc_direct_conv_pools(shape, H, W, k, pad))
        tlc_winograd_conv_relu_pool(winograd_tile_of(shape), level, x, samples, C, H, W, packed, bias, outputs, pad, scratch, pooled, argmax);
#else
    (void)level; (void)shape; (void)x; (void)samples; (void)C; (void)H; (void)W; (void)packed; (void)bias; (void)outputs; (void)k; (void)pad;
    (void)scratch; (void)pooled; (void)argmax;
#endif
}
