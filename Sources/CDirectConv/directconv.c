// CDirectConv — direct stride-1 NCHW float convolution with AVX-512 fused multiply-adds
// (register tiles of 8 channels × 48 output positions). See cdirectconv.h.
#include "cdirectconv.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define TLC_X86 1
#endif

#define MR 8    // output channels per tile (broadcast weights)
#define V 3     // vectors of 16 output positions per tile
#define QT (16 * V)

int tlc_direct_conv_supported(void) {
#ifdef TLC_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

long tlc_direct_conv_packed_count(int outputs, int inputs, int k) {
    return (long)((outputs + MR - 1) / MR) * inputs * k * k * MR;
}

void tlc_direct_conv_pack(const float *w, int outputs, int inputs, int k, float *packed) {
    const int blocks = (outputs + MR - 1) / MR, taps = inputs * k * k;
    for (int b = 0; b < blocks; b++)
        for (int t = 0; t < taps; t++)
            for (int r = 0; r < MR; r++) {
                int o = b * MR + r;
                packed[((long)b * taps + t) * MR + r] = o < outputs ? w[(long)o * taps + t] : 0;
            }
}

// Geometry of one sample: padded plane PH×PW, OH output rows, Q wide positions rounded up to tiles.
typedef struct { int PH, PW, OH, OW; long plane, Q, Qt, padded; } geometry;

static geometry geometry_of(int H, int W, int k, int pad) {
    geometry g;
    g.PH = H + 2 * pad; g.PW = W + 2 * pad;
    g.OH = g.PH - k + 1; g.OW = g.PW - k + 1;
    g.plane = (long)g.PH * g.PW;
    g.Q = (long)g.OH * g.PW;
    g.Qt = (g.Q + QT - 1) / QT * QT;
    return g;
}

long tlc_direct_conv_scratch_count(int outputs, int inputs, int H, int W, int k, int pad) {
    geometry g = geometry_of(H, W, k, pad);
    // Tiles read up to Qt − 1 + (k − 1)·(PW + 1) past a channel's start: slack after the last plane.
    long padded = (long)inputs * g.plane + g.Qt + (long)k * (g.PW + 1);
    padded = (padded + 15) / 16 * 16;
    return padded + (long)((outputs + MR - 1) / MR) * MR * g.Qt;
}

#ifdef TLC_X86
__attribute__((target("avx512f")))
static void tile(const float *in, const geometry *g, int C, int k, const float *wb, const float *bias, int rows,
                 long q0, float *out) {
    __m512 acc[MR][V];
    for (int r = 0; r < MR; r++) {
        __m512 b = _mm512_set1_ps(r < rows ? bias[r] : 0);
        for (int v = 0; v < V; v++) acc[r][v] = b;
    }
    const float *w = wb;
    for (int c = 0; c < C; c++) {
        const float *plane = in + (long)c * g->plane + q0;
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++, w += MR) {
                const float *src = plane + (long)ki * g->PW + kj;
                __m512 x0 = _mm512_loadu_ps(src), x1 = _mm512_loadu_ps(src + 16), x2 = _mm512_loadu_ps(src + 32);
                for (int r = 0; r < MR; r++) {
                    __m512 wr = _mm512_set1_ps(w[r]);
                    acc[r][0] = _mm512_fmadd_ps(wr, x0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(wr, x1, acc[r][1]);
                    acc[r][2] = _mm512_fmadd_ps(wr, x2, acc[r][2]);
                }
            }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < V; v++) _mm512_storeu_ps(out + (long)r * g->Qt + q0 + 16 * v, acc[r][v]);
}
#endif

void tlc_direct_conv(const float *x, int samples, int C, int H, int W, const float *packed, const float *bias,
                     int outputs, int k, int pad, int relu, float *scratch, float *y) {
#ifdef TLC_X86
    const geometry g = geometry_of(H, W, k, pad);
    long paddedCount = (long)C * g.plane + g.Qt + (long)k * (g.PW + 1);
    paddedCount = (paddedCount + 15) / 16 * 16;
    float *in = scratch, *wide = scratch + paddedCount;
    memset(in, 0, (size_t)paddedCount * sizeof(float));   // borders and slack stay zero
    const int blocks = (outputs + MR - 1) / MR, taps = C * k * k;
    const long outPlane = (long)g.OH * g.OW;
    for (int s = 0; s < samples; s++) {
        const float *xs = x + (long)s * C * H * W;
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H; i++)
                memcpy(in + (long)c * g.plane + (long)(i + pad) * g.PW + pad, xs + ((long)c * H + i) * W, (size_t)W * sizeof(float));
        for (int b = 0; b < blocks; b++) {
            int rows = outputs - b * MR < MR ? outputs - b * MR : MR;
            for (long q0 = 0; q0 < g.Qt; q0 += QT)
                tile(in, &g, C, k, packed + (long)b * taps * MR, bias + b * MR, rows, q0, wide + (long)b * MR * g.Qt);
        }
        float *ys = y + (long)s * outputs * outPlane;
        for (int o = 0; o < outputs; o++)
            for (int i = 0; i < g.OH; i++) {
                const float *src = wide + (long)o * g.Qt + (long)i * g.PW;
                float *dst = ys + o * outPlane + (long)i * g.OW;
                if (relu) for (int j = 0; j < g.OW; j++) dst[j] = src[j] > 0 ? src[j] : 0;
                else memcpy(dst, src, (size_t)g.OW * sizeof(float));
            }
    }
#else
    (void)x; (void)samples; (void)C; (void)H; (void)W; (void)packed; (void)bias; (void)outputs; (void)k; (void)pad; (void)relu; (void)scratch; (void)y;
#endif
}
