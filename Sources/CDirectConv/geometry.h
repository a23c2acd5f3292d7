// CDirectConv's shared layout (private): one sample's zero-padded input as a flat
// [C][PH][PW] array and its "wide" output positions q = oh·PW + ow (ow < PW, those past
// OW unused), and the epilogue that writes an output row, which the convolution
// (directconv.c, winograd.c) and its weight gradient
// (weightgrad.c) both walk 16 positions at a time.
#ifndef TLC_CDIRECTCONV_GEOMETRY_H
#define TLC_CDIRECTCONV_GEOMETRY_H
#include <math.h>
#include <string.h>

// Geometry of one sample: padded plane PH×PW, OH output rows, Q wide positions rounded up to tiles of `tile`.
typedef struct { int PH, PW, OH, OW; long plane, Q, Qt; } geometry;

static inline geometry geometry_of(long tile, int H, int W, int k, int pad) {
    geometry g;
    g.PH = H + 2 * pad; g.PW = W + 2 * pad;
    g.OH = g.PH - k + 1; g.OW = g.PW - k + 1;
    g.plane = (long)g.PH * g.PW;
    g.Q = (long)g.OH * g.PW;
    g.Qt = (g.Q + tile - 1) / tile * tile;
    return g;
}

// Floats of a padded sample: tiles read up to Qt − 1 + (k − 1)·(PW + 1) past a channel's
// start, so there is slack after the last plane.
static inline long padded_count(const geometry *g, int C, int k) {
    long padded = (long)C * g->plane + g->Qt + (long)k * (g->PW + 1);
    return (padded + 15) / 16 * 16;
}

// dst[j] = m[j] > 0 ? src[j] : 0 for j < n (a select, so that it vectorizes without branches).
static inline void masked_copy(float *restrict dst, const float *restrict src, const float *restrict m, long n) {
    for (long j = 0; j < n; j++) {
        const float v = src[j];
        dst[j] = m[j] > 0 ? v : 0.0f;
    }
}

// Writes sample xs (C × H × W) as the padded array `in` of `count` floats (see
// padded_count): the zero borders, the values, the zero slack after the last plane; with
// `mask` (the same shape as xs, may be NULL) a value counts only where mask > 0 — a
// ReLU's backward through its output.
static inline void pad_sample(const float *xs, const float *mask, int C, int H, int W, int pad, const geometry *g, long count, float *in) {
    for (int c = 0; c < C; c++) {
        float *plane = in + (long)c * g->plane;
        memset(plane, 0, (size_t)pad * g->PW * sizeof(float));
        for (int i = 0; i < H; i++) {
            float *row = plane + (long)(i + pad) * g->PW;
            const float *src = xs + ((long)c * H + i) * W;
            for (int j = 0; j < pad; j++) { row[j] = 0; row[pad + W + j] = 0; }
            if (mask) masked_copy(row + pad, src, mask + ((long)c * H + i) * W, W);
            else memcpy(row + pad, src, (size_t)W * sizeof(float));
        }
        memset(plane + (long)(H + pad) * g->PW, 0, (size_t)pad * g->PW * sizeof(float));
    }
    memset(in + (long)C * g->plane, 0, (size_t)(count - (long)C * g->plane) * sizeof(float));
}
// The fixed reduction of one output's 16 lanes: lane i + lane i+8, then i + i+4, then
// i + i+2, then i + i+1 (plain C, so every instruction set ends in the same sums).
static inline float reduce16_lanes(const float *lanes) {
    float s8[8];
    for (int i = 0; i < 8; i++) s8[i] = lanes[i] + lanes[i + 8];
    const float s4[4] = {s8[0] + s8[4], s8[1] + s8[5], s8[2] + s8[6], s8[3] + s8[7]};
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// dst[j] for j < n from the convolution's src[j]: then (v − mean)·scale + shift when
// `hasMean` (rounded as BatchNorm rounds it: no fused multiply-add), then ReLU when `relu`:
// v < 0 ? 0 : v as ReLU computes it, or with a finite `ceiling` min(max(v, 0), ceiling)
// exactly as ReLU6 computes it in Swift (max(v, 0) is 0 >= v ? 0 : v, min(v, c) is c < v ? c : v).
static inline void finish_row(const float *src, float *dst, int n, int hasMean, float mean, float scale, float shift, int relu,
                              float ceiling) {
#pragma clang fp contract(off)
    // One simple loop per case, so that each vectorizes.
    if (relu && ceiling < INFINITY) {
        if (hasMean) for (int j = 0; j < n; j++) { float v = (src[j] - mean) * scale + shift; v = 0 >= v ? 0 : v; dst[j] = ceiling < v ? ceiling : v; }
        else for (int j = 0; j < n; j++) { const float v = 0 >= src[j] ? 0 : src[j]; dst[j] = ceiling < v ? ceiling : v; }
    }
    else if (hasMean && relu) for (int j = 0; j < n; j++) { float v = (src[j] - mean) * scale + shift; dst[j] = v < 0 ? 0 : v; }
    else if (hasMean) for (int j = 0; j < n; j++) dst[j] = (src[j] - mean) * scale + shift;
    else if (relu) for (int j = 0; j < n; j++) dst[j] = src[j] < 0 ? 0 : src[j];
    else memcpy(dst, src, (size_t)n * sizeof(float));
}
#endif
