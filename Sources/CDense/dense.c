// CDense — the dense layer's inference pass with AVX-512 or AVX2. See cdense.h.
#include "cdense.h"
#if defined(__x86_64__)
#include <immintrin.h>
#define TLC_X86 1
#endif

int tlc_dense_level(void) {
#ifdef TLC_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

#ifdef TLC_X86
#define UNROLLED _Pragma("clang loop unroll(full)")
// Outputs per block: as many rows of W (a multiple of 4, at least 4) as fit in 24 KiB
// stay in L1 while every row of x in the part passes them.
static long block_of(long k) {
    long jb = 6 * 1024 / (k > 0 ? k : 1) / 4 * 4;
    return jb < 4 ? 4 : jb > 64 ? 64 : jb;
}

// The fixed tree over 8 partial sums t[l] = s[l] + s[l+8] (SSE, shared by both paths):
// (l, l+4), then (l, l+2), then (0, 1); then the bias and the ReLU.
static inline __attribute__((always_inline, target("avx2")))
float finish(__m256 t, float bias, int relu) {
    __m128 u = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    __m128 v = _mm_add_ps(u, _mm_movehl_ps(u, u));
    float r = _mm_cvtss_f32(v) + _mm_cvtss_f32(_mm_shuffle_ps(v, v, 1));
    r = r + bias;
    return relu && r < 0 ? 0 : r;
}

// A tile of MI rows × NJ outputs with AVX-512: acc[i][j] holds the 16 lane sums.
static inline __attribute__((always_inline, target("avx512f")))
void tile512(const int MI, const int NJ, const float *x, long k, const float *w, const float *bias, int relu,
             float *y, long ldy) {
    __m512 acc[16];
    UNROLLED for (int a = 0; a < MI * NJ; a++) acc[a] = _mm512_setzero_ps();
    long p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 xv[4], wv[4];
        UNROLLED for (int i = 0; i < MI; i++) xv[i] = _mm512_loadu_ps(x + i * k + p);
        UNROLLED for (int j = 0; j < NJ; j++) wv[j] = _mm512_loadu_ps(w + j * k + p);
        UNROLLED for (int i = 0; i < MI; i++)
            UNROLLED for (int j = 0; j < NJ; j++) acc[i * NJ + j] = _mm512_fmadd_ps(xv[i], wv[j], acc[i * NJ + j]);
    }
    if (p < k) {
        const __mmask16 m = (__mmask16)((1u << (k - p)) - 1);
        __m512 xv[4], wv[4];
        UNROLLED for (int i = 0; i < MI; i++) xv[i] = _mm512_maskz_loadu_ps(m, x + i * k + p);
        UNROLLED for (int j = 0; j < NJ; j++) wv[j] = _mm512_maskz_loadu_ps(m, w + j * k + p);
        UNROLLED for (int i = 0; i < MI; i++)
            UNROLLED for (int j = 0; j < NJ; j++) acc[i * NJ + j] = _mm512_fmadd_ps(xv[i], wv[j], acc[i * NJ + j]);
    }
    if (NJ == 4) {
        // Four outputs of a row at once, by the same tree: each step adds the same pairs.
        const __m128 b = _mm_loadu_ps(bias), zero = _mm_setzero_ps();
        const __m512i firsts = _mm512_setr_epi32(0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12);
        UNROLLED for (int i = 0; i < MI; i++) {
            const __m512 *a = acc + i * 4;
            // (l, l+8): quarters 0,1 of each sum plus its quarters 2,3, two sums per vector.
            __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(a[0], a[1], 0x44), _mm512_shuffle_f32x4(a[0], a[1], 0xEE));
            __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(a[2], a[3], 0x44), _mm512_shuffle_f32x4(a[2], a[3], 0xEE));
            // (l, l+4): quarter d now holds sum d's four lanes.
            __m512 u = _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xDD));
            __m512 v = _mm512_add_ps(u, _mm512_shuffle_ps(u, u, 0xEE));    // (l, l+2)
            __m512 r = _mm512_add_ps(v, _mm512_shuffle_ps(v, v, 0x55));    // (0, 1)
            __m128 out = _mm_add_ps(_mm512_castps512_ps128(_mm512_permutexvar_ps(firsts, r)), b);
            if (relu) out = _mm_blendv_ps(out, zero, _mm_cmplt_ps(out, zero));
            _mm_storeu_ps(y + i * ldy, out);
        }
        return;
    }
    UNROLLED for (int i = 0; i < MI; i++)
        UNROLLED for (int j = 0; j < NJ; j++) {
            __m512 s = acc[i * NJ + j];
            __m256 t = _mm256_add_ps(_mm512_castps512_ps256(s), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
            y[i * ldy + j] = finish(t, bias[j], relu);
        }
}

// AVX2: the same lane sums in two halves (lanes 0–7 and 8–15), tiles of MI × NJ ≤ 2 × 2.
static inline __attribute__((always_inline, target("avx2,fma")))
void tile256(const int MI, const int NJ, const float *x, long k, const float *w, const float *bias, int relu,
             float *y, long ldy) {
    __m256 lo[4], hi[4];
    UNROLLED for (int a = 0; a < MI * NJ; a++) { lo[a] = _mm256_setzero_ps(); hi[a] = _mm256_setzero_ps(); }
    long p = 0;
    for (; p + 16 <= k; p += 16) {
        UNROLLED for (int i = 0; i < MI; i++) {
            __m256 x0 = _mm256_loadu_ps(x + i * k + p), x1 = _mm256_loadu_ps(x + i * k + p + 8);
            UNROLLED for (int j = 0; j < NJ; j++) {
                lo[i * NJ + j] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w + j * k + p), lo[i * NJ + j]);
                hi[i * NJ + j] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w + j * k + p + 8), hi[i * NJ + j]);
            }
        }
    }
    if (p < k) {
        const long left = k - p;
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), lanes);
        const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left - 8), lanes);
        UNROLLED for (int i = 0; i < MI; i++) {
            __m256 x0 = _mm256_maskload_ps(x + i * k + p, m0), x1 = _mm256_maskload_ps(x + i * k + p + 8, m1);
            UNROLLED for (int j = 0; j < NJ; j++) {
                lo[i * NJ + j] = _mm256_fmadd_ps(x0, _mm256_maskload_ps(w + j * k + p, m0), lo[i * NJ + j]);
                hi[i * NJ + j] = _mm256_fmadd_ps(x1, _mm256_maskload_ps(w + j * k + p + 8, m1), hi[i * NJ + j]);
            }
        }
    }
    UNROLLED for (int i = 0; i < MI; i++)
        UNROLLED for (int j = 0; j < NJ; j++)
            y[i * ldy + j] = finish(_mm256_add_ps(lo[i * NJ + j], hi[i * NJ + j]), bias[j], relu);
}

#define TILE512(MI, NJ) case (MI) * 8 + (NJ): tile512(MI, NJ, x, k, w, bias, relu, y, ldy); break;
__attribute__((target("avx512f")))
static void dense512(const float *x, long rows, long k, const float *w, const float *bias, long outputs, int relu, float *y) {
    const long ldy = outputs, jb = block_of(k);
    for (long j0 = 0; j0 < outputs; j0 += jb) {
        const long j1 = j0 + jb < outputs ? j0 + jb : outputs;
        for (long i0 = 0; i0 < rows; i0 += 4) {
            const int mi = rows - i0 < 4 ? (int)(rows - i0) : 4;
            for (long j = j0; j < j1; j += 4) {
                const int nj = j1 - j < 4 ? (int)(j1 - j) : 4;
                const float *xt = x + i0 * k, *wt = w + j * k, *bt = bias + j;
                float *yt = y + i0 * ldy + j;
                {
                    const float *x = xt, *w = wt, *bias = bt;
                    float *y = yt;
                    switch (mi * 8 + nj) {
                    TILE512(1, 1) TILE512(1, 2) TILE512(1, 3) TILE512(1, 4)
                    TILE512(2, 1) TILE512(2, 2) TILE512(2, 3) TILE512(2, 4)
                    TILE512(3, 1) TILE512(3, 2) TILE512(3, 3) TILE512(3, 4)
                    TILE512(4, 1) TILE512(4, 2) TILE512(4, 3) default: TILE512(4, 4)
                    }
                }
            }
        }
    }
}

#define TILE256(MI, NJ) case (MI) * 8 + (NJ): tile256(MI, NJ, x, k, w, bias, relu, y, ldy); break;
__attribute__((target("avx2,fma")))
static void dense256(const float *x, long rows, long k, const float *w, const float *bias, long outputs, int relu, float *y) {
    const long ldy = outputs, jb = block_of(k);
    for (long j0 = 0; j0 < outputs; j0 += jb) {
        const long j1 = j0 + jb < outputs ? j0 + jb : outputs;
        for (long i0 = 0; i0 < rows; i0 += 2) {
            const int mi = rows - i0 < 2 ? (int)(rows - i0) : 2;
            for (long j = j0; j < j1; j += 2) {
                const int nj = j1 - j < 2 ? (int)(j1 - j) : 2;
                const float *xt = x + i0 * k, *wt = w + j * k, *bt = bias + j;
                float *yt = y + i0 * ldy + j;
                {
                    const float *x = xt, *w = wt, *bias = bt;
                    float *y = yt;
                    switch (mi * 8 + nj) {
                    TILE256(1, 1) TILE256(1, 2) TILE256(2, 1) default: TILE256(2, 2)
                    }
                }
            }
        }
    }
}
#endif

void tlc_dense(int level, const float *x, long rows, long k, const float *w, const float *bias, long outputs,
               int relu, float *y) {
#ifdef TLC_X86
    if (level >= 2) dense512(x, rows, k, w, bias, outputs, relu, y);
    else dense256(x, rows, k, w, bias, outputs, relu, y);
#else
    (void)level; (void)x; (void)rows; (void)k; (void)w; (void)bias; (void)outputs; (void)relu; (void)y;
#endif
}
