// CInt8 — int8 GEMM (AVX2 with a portable fallback giving identical results),
// requantization and im2col for tlc's integer inference path. See cint8.h.
#include "cint8.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TLC_X86 1
#endif

#pragma clang fp contract(off)

static void qgemm_portable(const uint8_t *B, const int8_t *A, int32_t *C, int N, int M, int Kp) {
    for (int n = 0; n < N; n++) {
        const uint8_t *b = B + (long)n * Kp;
        for (int m = 0; m < M; m++) {
            const int8_t *a = A + (long)m * Kp;
            int32_t acc = 0;
            for (int k = 0; k < Kp; k++) acc += (int32_t)b[k] * (int32_t)a[k];
            C[(long)n * M + m] = acc;
        }
    }
}

#ifdef TLC_X86
__attribute__((target("avx2")))
static inline int32_t hsum_avx2(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

// Two rows of B against four rows of A per step: 6 loads feed 8 multiply-adds.
// maddubs: u8×s8 pairs summed to s16 (≤ 2·127·127, never saturates); madd with
// ones widens pairs of s16 to s32.
__attribute__((target("avx2")))
static void qgemm_avx2(const uint8_t *B, const int8_t *A, int32_t *C, int N, int M, int Kp) {
    const __m256i ones = _mm256_set1_epi16(1);
    int n = 0;
    for (; n + 2 <= N; n += 2) {
        const uint8_t *b0 = B + (long)n * Kp, *b1 = b0 + Kp;
        int m = 0;
        for (; m + 4 <= M; m += 4) {
            const int8_t *a0 = A + (long)m * Kp, *a1 = a0 + Kp, *a2 = a1 + Kp, *a3 = a2 + Kp;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00;
            __m256i c10 = c00, c11 = c00, c12 = c00, c13 = c00;
            for (int k = 0; k < Kp; k += 32) {
                __m256i x0 = _mm256_loadu_si256((const __m256i *)(b0 + k));
                __m256i x1 = _mm256_loadu_si256((const __m256i *)(b1 + k));
                __m256i w0 = _mm256_loadu_si256((const __m256i *)(a0 + k));
                __m256i w1 = _mm256_loadu_si256((const __m256i *)(a1 + k));
                __m256i w2 = _mm256_loadu_si256((const __m256i *)(a2 + k));
                __m256i w3 = _mm256_loadu_si256((const __m256i *)(a3 + k));
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(_mm256_maddubs_epi16(x0, w0), ones));
                c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(_mm256_maddubs_epi16(x0, w1), ones));
                c02 = _mm256_add_epi32(c02, _mm256_madd_epi16(_mm256_maddubs_epi16(x0, w2), ones));
                c03 = _mm256_add_epi32(c03, _mm256_madd_epi16(_mm256_maddubs_epi16(x0, w3), ones));
                c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(_mm256_maddubs_epi16(x1, w0), ones));
                c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(_mm256_maddubs_epi16(x1, w1), ones));
                c12 = _mm256_add_epi32(c12, _mm256_madd_epi16(_mm256_maddubs_epi16(x1, w2), ones));
                c13 = _mm256_add_epi32(c13, _mm256_madd_epi16(_mm256_maddubs_epi16(x1, w3), ones));
            }
            int32_t *r0 = C + (long)n * M + m, *r1 = r0 + M;
            r0[0] = hsum_avx2(c00); r0[1] = hsum_avx2(c01); r0[2] = hsum_avx2(c02); r0[3] = hsum_avx2(c03);
            r1[0] = hsum_avx2(c10); r1[1] = hsum_avx2(c11); r1[2] = hsum_avx2(c12); r1[3] = hsum_avx2(c13);
        }
        for (; m < M; m++) {
            const int8_t *a = A + (long)m * Kp;
            __m256i c0 = _mm256_setzero_si256(), c1 = c0;
            for (int k = 0; k < Kp; k += 32) {
                __m256i w = _mm256_loadu_si256((const __m256i *)(a + k));
                c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(b0 + k)), w), ones));
                c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(b1 + k)), w), ones));
            }
            C[(long)n * M + m] = hsum_avx2(c0);
            C[(long)(n + 1) * M + m] = hsum_avx2(c1);
        }
    }
    for (; n < N; n++) {
        const uint8_t *b = B + (long)n * Kp;
        for (int m = 0; m < M; m++) {
            const int8_t *a = A + (long)m * Kp;
            __m256i c = _mm256_setzero_si256();
            for (int k = 0; k < Kp; k += 32)
                c = _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(b + k)),
                                                                                _mm256_loadu_si256((const __m256i *)(a + k))), ones));
            C[(long)n * M + m] = hsum_avx2(c);
        }
    }
}
#endif

static int use_avx2 = -1;

int tlc_qgemm_uses_avx2(void) {
#ifdef TLC_X86
    if (use_avx2 < 0) { __builtin_cpu_init(); use_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0; }
    return use_avx2;
#else
    return 0;
#endif
}

void tlc_qgemm_u8s8(const uint8_t *B, const int8_t *A, int32_t *C, int N, int M, int Kp) {
#ifdef TLC_X86
    if (tlc_qgemm_uses_avx2()) { qgemm_avx2(B, A, C, N, M, Kp); return; }
#endif
    qgemm_portable(B, A, C, N, M, Kp);
}

// Round half to even without a libm call (cvtss2si under the default MXCSR mode).
static inline int round_even(float x) {
#ifdef TLC_X86
    return _mm_cvtss_si32(_mm_set_ss(x));
#else
    return (int)nearbyintf(x);
#endif
}

void tlc_requantize(const int32_t *C, int N, int M, const int32_t *rowSum, int zpIn,
                    const float *scale, const float *bias, int relu, float invOut, int zpOut, int qmax,
                    uint8_t *out, float *fout) {
    for (int n = 0; n < N; n++) {
        const int32_t *c = C + (long)n * M;
        for (int m = 0; m < M; m++) {
            float v = (float)(c[m] - zpIn * rowSum[m]) * scale[m];
            v = v + bias[m];
            if (relu && v < 0) v = 0;
            if (fout) fout[(long)n * M + m] = v;
            if (out) {
                float t = v * invOut;
                t = t > 1e6f ? 1e6f : (t < -1e6f ? -1e6f : t);   // far outside the range: saturate, never overflow
                int q = round_even(t) + zpOut;
                out[(long)n * M + m] = (uint8_t)(q < 0 ? 0 : (q > qmax ? qmax : q));
            }
        }
    }
}

void tlc_im2col_u8(const uint8_t *x, int H, int W, int C, int k, int stride, int pad,
                   int OH, int OW, uint8_t zp, int Kp, uint8_t *cols) {
    const int K = k * k * C;
    for (int oh = 0; oh < OH; oh++) {
        for (int ow = 0; ow < OW; ow++) {
            uint8_t *dst = cols + ((long)oh * OW + ow) * Kp;
            for (int ki = 0; ki < k; ki++) {
                int ih = oh * stride - pad + ki;
                for (int kj = 0; kj < k; kj++) {
                    int iw = ow * stride - pad + kj;
                    uint8_t *d = dst + (ki * k + kj) * C;
                    int inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
                    if (C < 16) {   // few channels (first layers): a plain loop beats a library call per pixel
                        if (inside) { const uint8_t *src = x + ((long)ih * W + iw) * C; for (int c = 0; c < C; c++) d[c] = src[c]; }
                        else for (int c = 0; c < C; c++) d[c] = zp;
                    } else if (!inside) memset(d, zp, (size_t)C);
                    else memcpy(d, x + ((long)ih * W + iw) * C, (size_t)C);
                }
            }
            if (Kp > K) memset(dst + K, 0, (size_t)(Kp - K));
        }
    }
}
