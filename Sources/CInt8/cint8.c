// CInt8 — int8 GEMM kernels (AVX-512 VNNI, AVX2, portable: identical results) with
// fused requantization, implicit-GEMM convolution, pooling and input quantization for
// tlc's integer inference path. See cint8.h.
#include "cint8.h"
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TLC_X86 1
#endif

// Every path must round the same way: no fused multiply-adds.
#pragma clang fp contract(off)

#define PANEL TLC_INT8_PANEL
#define CLAMP_LIMIT 1e6f   // |v · invOut| beyond this saturates anyway; keeps conversions in range

// Round half to even for |t| ≤ 2^22 (the default rounding mode, as cvtps2dq): adding
// 1.5·2^23 leaves no fractional bits (exact IEEE arithmetic; vectorizes).
static inline int round_half_even(float t) {
    const float magic = 12582912.0f;
    return (int)((t + magic) - magic);
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

static inline int32_t load4(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

size_t tlc_int8_packed_size(int M, int K) {
    int panels = (M + PANEL - 1) / PANEL, Kp = (K + 3) / 4 * 4;
    return (size_t)panels * (size_t)Kp * PANEL;
}

void tlc_int8_pack(const int8_t *A, int M, int K, long lda, int8_t *packed) {
    int panels = (M + PANEL - 1) / PANEL, G = (K + 3) / 4;
    memset(packed, 0, tlc_int8_packed_size(M, K));
    for (int p = 0; p < panels; p++)
        for (int g = 0; g < G; g++)
            for (int lane = 0; lane < PANEL; lane++) {
                int m = p * PANEL + lane;
                if (m >= M) break;
                for (int j = 0; j < 4; j++) {
                    int k = g * 4 + j;
                    if (k < K) packed[(((long)p * G + g) * PANEL + lane) * 4 + j] = A[(long)m * lda + k];
                }
            }
}

// Where a tile's results go: raw accumulators, uint8 codes, or floats.
typedef struct {
    int32_t *c; long ldc;
    uint8_t *out; long ldo;
    float *fout; long ldf;
} sink;

// The requantization of one accumulator: the reference every vector epilogue matches.
static inline void finish_scalar(const tlc_qlayer *L, int32_t acc, int m, const sink *s, long n) {
    if (s->c) { s->c[n * s->ldc + m] = acc; return; }
    float v = (float)(acc - L->zeroTerm[m]) * L->scale[m];
    v = v + L->bias[m];
    if (L->relu && v <= 0) v = 0;   // as max(v, 0): −0 becomes +0
    if (s->fout) s->fout[n * s->ldf + m] = v;
    if (s->out) {
        float t = v * L->invOut;
        t = t < -CLAMP_LIMIT ? -CLAMP_LIMIT : (t > CLAMP_LIMIT ? CLAMP_LIMIT : t);
        s->out[n * s->ldo + m] = (uint8_t)clampi(round_half_even(t) + L->zpOut, 0, L->qmax);
    }
}

// MARK: portable

// Rows r of a tile start at rows[r]; group g of 4 columns is at rows[r] + offsets[g].
static void tile_portable(const tlc_qlayer *L, const uint8_t *const *rows, int R, int p, long n0, const sink *s) {
    int G = L->Kp / 4;
    const int8_t *w = L->packed + (long)p * G * PANEL * 4;
    for (int r = 0; r < R; r++) {
        int32_t acc[PANEL] = {0};
        for (int g = 0; g < G; g++) {
            const uint8_t *b = rows[r] + L->offsets[g];
            for (int lane = 0; lane < PANEL; lane++)
                for (int j = 0; j < 4; j++) acc[lane] += (int32_t)b[j] * (int32_t)w[(g * PANEL + lane) * 4 + j];
        }
        for (int lane = 0; lane < PANEL && p * PANEL + lane < L->M; lane++) finish_scalar(L, acc[lane], p * PANEL + lane, s, n0 + r);
    }
}

static void block_portable(const tlc_qlayer *L, const uint8_t *const *rows, long n0, int N, const sink *s) {
    int panels = (L->M + PANEL - 1) / PANEL;
    for (int p = 0; p < panels; p++) tile_portable(L, rows, N, p, n0, s);
}

#ifdef TLC_X86
// MARK: AVX-512 VNNI

#define TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

// One panel (16 channels from m0) of row n: the scalar epilogue, 16 lanes at once.
TARGET_VNNI static inline void finish_vnni(const tlc_qlayer *L, __m512i acc, int m0, const sink *s, long n) {
    int valid = L->M - m0 < PANEL ? L->M - m0 : PANEL;
    __mmask16 mask = (__mmask16)((1u << valid) - 1);
    if (s->c) { _mm512_mask_storeu_epi32(s->c + n * s->ldc + m0, mask, acc); return; }
    __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, _mm512_loadu_si512(L->zeroTerm + m0)));
    v = _mm512_mul_ps(v, _mm512_loadu_ps(L->scale + m0));
    v = _mm512_add_ps(v, _mm512_loadu_ps(L->bias + m0));
    if (L->relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    if (s->fout) _mm512_mask_storeu_ps(s->fout + n * s->ldf + m0, mask, v);
    if (s->out) {
        __m512 t = _mm512_mul_ps(v, _mm512_set1_ps(L->invOut));
        t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-CLAMP_LIMIT)), _mm512_set1_ps(CLAMP_LIMIT));
        __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(t), _mm512_set1_epi32(L->zpOut));
        q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_setzero_si512()), _mm512_set1_epi32(L->qmax));
        _mm_mask_storeu_epi8(s->out + n * s->ldo + m0, mask, _mm512_cvtepi32_epi8(q));
    }
}

// R rows × P panels (P ≤ 2) of accumulators in registers: per group of 4 columns,
// P weight loads and R broadcasts feed R·P vpdpbusd.
// R rows × P panels (P ≤ 2) of accumulators in registers: per group of 4 columns,
// P weight loads and R broadcasts feed R·P vpdpbusd.
#define VNNI_TILE(R, P)                                                                                   \
    TARGET_VNNI static void tile_vnni_##R##_##P(const tlc_qlayer *L, const uint8_t *const *rows, int p,  \
                                                long n0, const sink *s) {                                \
        const int G = L->Kp / 4;                                                                          \
        const int32_t *off = L->offsets;                                                                  \
        const int8_t *w = L->packed + (long)p * G * PANEL * 4;                                            \
        const long wnext = (long)G * PANEL * 4;                                                           \
        const uint8_t *b[R];                                                                              \
        __m512i acc[R][P];                                                                                \
        for (int r = 0; r < R; r++) {                                                                     \
            b[r] = rows[r];                                                                               \
            for (int q = 0; q < P; q++) acc[r][q] = _mm512_setzero_si512();                               \
        }                                                                                                 \
        for (int g = 0; g < G; g++) {                                                                     \
            const long o = off[g];                                                                        \
            __m512i w0 = _mm512_loadu_si512(w + (long)g * 64);                                            \
            __m512i w1 = P > 1 ? _mm512_loadu_si512(w + wnext + (long)g * 64) : w0;                       \
            for (int r = 0; r < R; r++) {                                                                 \
                __m512i x = _mm512_set1_epi32(load4(b[r] + o));                                           \
                acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], x, w0);                                        \
                if (P > 1) acc[r][P - 1] = _mm512_dpbusd_epi32(acc[r][P - 1], x, w1);                     \
            }                                                                                             \
        }                                                                                                 \
        for (int r = 0; r < R; r++)                                                                       \
            for (int q = 0; q < P; q++) finish_vnni(L, acc[r][q], (p + q) * PANEL, s, n0 + r);           \
    }
VNNI_TILE(1, 1) VNNI_TILE(2, 1) VNNI_TILE(3, 1) VNNI_TILE(4, 1) VNNI_TILE(5, 1) VNNI_TILE(6, 1) VNNI_TILE(7, 1) VNNI_TILE(8, 1)
VNNI_TILE(1, 2) VNNI_TILE(2, 2) VNNI_TILE(3, 2) VNNI_TILE(4, 2) VNNI_TILE(5, 2) VNNI_TILE(6, 2) VNNI_TILE(7, 2) VNNI_TILE(8, 2)

typedef void (*tile_fn)(const tlc_qlayer *, const uint8_t *const *, int, long, const sink *);
static const tile_fn vnni_tiles[2][9] = {
    {0, tile_vnni_1_1, tile_vnni_2_1, tile_vnni_3_1, tile_vnni_4_1, tile_vnni_5_1, tile_vnni_6_1, tile_vnni_7_1, tile_vnni_8_1},
    {0, tile_vnni_1_2, tile_vnni_2_2, tile_vnni_3_2, tile_vnni_4_2, tile_vnni_5_2, tile_vnni_6_2, tile_vnni_7_2, tile_vnni_8_2},
};

// Rows n0..<n0+N (starting at rows[0..<N]) against every panel, two panels at a time.
static void block_vnni(const tlc_qlayer *L, const uint8_t *const *rows, long n0, int N, const sink *s) {
    int panels = (L->M + PANEL - 1) / PANEL;
    for (int p = 0; p < panels;) {
        int P = panels - p >= 2 ? 2 : 1;
        for (int r = 0; r < N; r += 8) vnni_tiles[P - 1][N - r < 8 ? N - r : 8](L, rows + r, p, n0 + r, s);
        p += P;
    }
}

// MARK: AVX2

#define TARGET_AVX2 __attribute__((target("avx2")))

// Lanes 0–7 (lo) and 8–15 (hi) of a panel: the scalar epilogue, 8 lanes at a time.
TARGET_AVX2 static inline __m256 requant_avx2(const tlc_qlayer *L, __m256i acc, int m) {
    __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_loadu_si256((const __m256i *)(L->zeroTerm + m))));
    v = _mm256_mul_ps(v, _mm256_loadu_ps(L->scale + m));
    v = _mm256_add_ps(v, _mm256_loadu_ps(L->bias + m));
    if (L->relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
    return v;
}

TARGET_AVX2 static inline __m256i codes_avx2(const tlc_qlayer *L, __m256 v) {
    __m256 t = _mm256_mul_ps(v, _mm256_set1_ps(L->invOut));
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-CLAMP_LIMIT)), _mm256_set1_ps(CLAMP_LIMIT));
    __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(t), _mm256_set1_epi32(L->zpOut));
    return _mm256_min_epi32(_mm256_max_epi32(q, _mm256_setzero_si256()), _mm256_set1_epi32(L->qmax));
}

TARGET_AVX2 static inline void finish_avx2(const tlc_qlayer *L, __m256i lo, __m256i hi, int m0, const sink *s, long n) {
    int valid = L->M - m0 < PANEL ? L->M - m0 : PANEL;
    if (s->c) {
        int32_t tmp[PANEL];
        _mm256_storeu_si256((__m256i *)tmp, lo); _mm256_storeu_si256((__m256i *)(tmp + 8), hi);
        memcpy(s->c + n * s->ldc + m0, tmp, (size_t)valid * 4);
        return;
    }
    __m256 vlo = requant_avx2(L, lo, m0), vhi = requant_avx2(L, hi, m0 + 8);
    if (s->fout) {
        float tmp[PANEL];
        _mm256_storeu_ps(tmp, vlo); _mm256_storeu_ps(tmp + 8, vhi);
        memcpy(s->fout + n * s->ldf + m0, tmp, (size_t)valid * 4);
    }
    if (s->out) {
        // Codes are in [0, 127]: saturating packs keep them; permute undoes the per-128-bit interleave.
        __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(codes_avx2(L, vlo), codes_avx2(L, vhi)), 0xd8);
        __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
        if (valid == PANEL) _mm_storeu_si128((__m128i *)(s->out + n * s->ldo + m0), bytes);
        else { uint8_t tmp[PANEL]; _mm_storeu_si128((__m128i *)tmp, bytes); memcpy(s->out + n * s->ldo + m0, tmp, (size_t)valid); }
    }
}

// R rows × one panel: per group of 4 columns, maddubs sums u8·s8 pairs to s16 (at most
// 2·127·127, never saturating), madd with ones sums those pairs to s32 — vpdpbusd's result.
#define AVX2_TILE(R)                                                                                      \
    TARGET_AVX2 static void tile_avx2_##R(const tlc_qlayer *L, const uint8_t *const *rows, int p,        \
                                          long n0, const sink *s) {                                      \
        const int G = L->Kp / 4;                                                                          \
        const int32_t *off = L->offsets;                                                                  \
        const int8_t *w = L->packed + (long)p * G * PANEL * 4;                                            \
        const __m256i ones = _mm256_set1_epi16(1);                                                        \
        const uint8_t *b[R];                                                                              \
        __m256i lo[R], hi[R];                                                                             \
        for (int r = 0; r < R; r++) { b[r] = rows[r]; lo[r] = _mm256_setzero_si256(); hi[r] = lo[r]; }   \
        for (int g = 0; g < G; g++) {                                                                     \
            const long o = off[g];                                                                        \
            __m256i wl = _mm256_loadu_si256((const __m256i *)(w + (long)g * 64));                         \
            __m256i wh = _mm256_loadu_si256((const __m256i *)(w + (long)g * 64 + 32));                    \
            for (int r = 0; r < R; r++) {                                                                 \
                __m256i x = _mm256_set1_epi32(load4(b[r] + o));                                           \
                lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(_mm256_maddubs_epi16(x, wl), ones));    \
                hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(_mm256_maddubs_epi16(x, wh), ones));    \
            }                                                                                             \
        }                                                                                                 \
        for (int r = 0; r < R; r++) finish_avx2(L, lo[r], hi[r], p * PANEL, s, n0 + r);                   \
    }
AVX2_TILE(1) AVX2_TILE(2) AVX2_TILE(3) AVX2_TILE(4)
static const tile_fn avx2_tiles[5] = {0, tile_avx2_1, tile_avx2_2, tile_avx2_3, tile_avx2_4};

static void block_avx2(const tlc_qlayer *L, const uint8_t *const *rows, long n0, int N, const sink *s) {
    int panels = (L->M + PANEL - 1) / PANEL;
    for (int p = 0; p < panels; p++)
        for (int r = 0; r < N; r += 4) avx2_tiles[N - r < 4 ? N - r : 4](L, rows + r, p, n0 + r, s);
}
#endif

// MARK: selection

int tlc_int8_kernel_supported(int kernel) {
    switch (kernel) {
    case TLC_INT8_PORTABLE: return 1;
#ifdef TLC_X86
    case TLC_INT8_AVX2: __builtin_cpu_init(); return __builtin_cpu_supports("avx2");
    case TLC_INT8_AVX512_VNNI:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512vnni");
#endif
    default: return 0;
    }
}

int tlc_int8_best_kernel(void) {
    static int best = -1;
    if (best < 0) {
        best = tlc_int8_kernel_supported(TLC_INT8_AVX512_VNNI) ? TLC_INT8_AVX512_VNNI
             : tlc_int8_kernel_supported(TLC_INT8_AVX2) ? TLC_INT8_AVX2 : TLC_INT8_PORTABLE;
    }
    return best;
}

// Rows are taken in blocks (their inputs stay in cache across the panels); row q starts
// at base + (q / width)·rowStep + (q % width)·colStep.
#define BLOCK_ROWS 192
static void gemm(int kernel, const tlc_qlayer *L, const uint8_t *base, long rowStep, long colStep, int width, int N, const sink *s) {
    if (!tlc_int8_kernel_supported(kernel)) kernel = TLC_INT8_PORTABLE;
    const uint8_t *rows[BLOCK_ROWS];
    for (int n0 = 0; n0 < N; n0 += BLOCK_ROWS) {
        int nb = N - n0 < BLOCK_ROWS ? N - n0 : BLOCK_ROWS;
        int y = n0 / width, x = n0 % width;
        for (int r = 0; r < nb; r++) {
            rows[r] = base + (long)y * rowStep + (long)x * colStep;
            if (++x == width) { x = 0; y++; }
        }
        switch (kernel) {
#ifdef TLC_X86
        case TLC_INT8_AVX512_VNNI: block_vnni(L, rows, n0, nb, s); break;
        case TLC_INT8_AVX2: block_avx2(L, rows, n0, nb, s); break;
#endif
        default: block_portable(L, rows, n0, nb, s); break;
        }
    }
}

void tlc_int8_gemm_s32(int kernel, const tlc_qlayer *L, const uint8_t *B, long ldb, int N, int32_t *C, long ldc) {
    sink s = {C, ldc, NULL, 0, NULL, 0};
    gemm(kernel, L, B, 0, ldb, N > 0 ? N : 1, N, &s);
}

void tlc_int8_gemm_requant(int kernel, const tlc_qlayer *L, const uint8_t *B, long ldb, int N,
                           uint8_t *out, long ldo, float *fout, long ldf) {
    sink s = {NULL, 0, out, ldo, fout, ldf};
    gemm(kernel, L, B, 0, ldb, N > 0 ? N : 1, N, &s);
}

// MARK: convolution, pooling, input

void tlc_int8_dense_offsets(int Kp, int32_t *offsets) {
    for (int g = 0; g < Kp / 4; g++) offsets[g] = 4 * g;
}

int tlc_int8_conv_span(const tlc_qconv_shape *s) { return ((s->k + s->stride * (s->group - 1)) * s->C + 3) / 4 * 4; }

void tlc_int8_conv_offsets(const tlc_qconv_shape *s, int32_t *offsets) {
    const int groups = tlc_int8_conv_span(s) / 4, PW = s->W + 2 * s->pad;
    for (int ki = 0; ki < s->k; ki++)
        for (int j = 0; j < groups; j++) offsets[ki * groups + j] = ki * PW * s->C + 4 * j;
}

size_t tlc_int8_conv_padded_size(const tlc_qconv_shape *s) {
    return s->pad > 0 ? (size_t)(s->H + 2 * s->pad) * (size_t)(s->W + 2 * s->pad) * (size_t)s->C : 0;
}

void tlc_int8_conv(int kernel, const tlc_qlayer *L, const tlc_qconv_shape *s, const uint8_t *x, int samples,
                   uint8_t *y, uint8_t *padded) {
    const int C = s->C;
    const long rowBytes = (long)(s->W + 2 * s->pad) * C;
    const long inCount = (long)s->H * s->W * C, outCount = (long)s->OH * (s->OW / s->group) * L->M;
    if (s->pad > 0) memset(padded, s->zpIn, tlc_int8_conv_padded_size(s));   // the border; the inside is copied per sample
    sink out = {NULL, 0, NULL, L->M, NULL, 0};
    for (int n = 0; n < samples; n++) {
        const uint8_t *src = x + n * inCount;
        if (s->pad > 0) {
            for (int i = 0; i < s->H; i++)
                memcpy(padded + (long)(i + s->pad) * rowBytes + (long)s->pad * C, src + (long)i * s->W * C, (size_t)s->W * C);
            src = padded;
        }
        out.out = y + n * outCount;
        gemm(kernel, L, src, (long)s->stride * rowBytes, (long)s->stride * C * s->group, s->OW / s->group, s->OH * (s->OW / s->group), &out);
    }
}

static inline uint8_t quantize(float x, float inv, int zp, int qmax) {
    float t = x * inv;
    t = t < -CLAMP_LIMIT ? -CLAMP_LIMIT : (t > CLAMP_LIMIT ? CLAMP_LIMIT : t);
    return (uint8_t)clampi(round_half_even(t) + zp, 0, qmax);
}

// Plain loops the compiler vectorizes, built for AVX-512, AVX2 and baseline x86-64 (same results).
#ifdef TLC_X86
#define VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

VECTOR_CLONES void tlc_int8_quantize_input(const float *x, int samples, int C, int HW, float inv, int zp, int qmax, uint8_t *y) {
    if (C == 1) {   // no transpose: one vectorized pass
        const long count = (long)samples * HW;
        for (long i = 0; i < count; i++) y[i] = quantize(x[i], inv, zp, qmax);
        return;
    }
    for (int n = 0; n < samples; n++) {
        const float *src = x + (long)n * C * HW;
        uint8_t *dst = y + (long)n * C * HW;
        for (int c = 0; c < C; c++)
            for (int p = 0; p < HW; p++) dst[(long)p * C + c] = quantize(src[(long)c * HW + p], inv, zp, qmax);
    }
}

VECTOR_CLONES void tlc_int8_pool(const uint8_t *x, int samples, int H, int W, int C, int size, int stride, int pad,
                   int OH, int OW, int isMax, uint8_t *y) {
    if (isMax && size == 2 && stride == 2 && pad == 0 && (long)W * C <= 65536) {
        // The common 2×2 pool: the max of two rows first (long contiguous runs), then of pixel pairs.
        uint8_t rows[(long)W * C];
        const long rowBytes = (long)W * C, pairBytes = 2L * OW * C;
        for (int n = 0; n < samples; n++) {
            const uint8_t *src = x + (long)n * H * W * C;
            uint8_t *dst = y + (long)n * OH * OW * C;
            for (int i = 0; i < OH; i++) {
                const uint8_t *r0 = src + 2L * i * rowBytes, *r1 = r0 + rowBytes;
                for (long t = 0; t < pairBytes; t++) rows[t] = r0[t] > r1[t] ? r0[t] : r1[t];
                uint8_t *o = dst + (long)i * OW * C;
                for (int j = 0; j < OW; j++) {
                    const uint8_t *a = rows + 2L * j * C, *b = a + C;
                    for (int c = 0; c < C; c++) o[(long)j * C + c] = a[c] > b[c] ? a[c] : b[c];
                }
            }
        }
        return;
    }
    int32_t acc[C > 0 ? C : 1];
    const int32_t div = size * size;
    for (int n = 0; n < samples; n++) {
        const uint8_t *src = x + (long)n * H * W * C;
        uint8_t *dst = y + (long)n * OH * OW * C;
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                uint8_t *o = dst + ((long)i * OW + j) * C;
                int inside = i * stride - pad >= 0 && i * stride - pad + size <= H && j * stride - pad >= 0 && j * stride - pad + size <= W;
                if (isMax && inside) {   // the common case: a byte max, vectorized over channels
                    const uint8_t *p0 = src + ((long)(i * stride - pad) * W + (j * stride - pad)) * C;
                    for (int c = 0; c < C; c++) o[c] = p0[c];
                    for (int ki = 0; ki < size; ki++)
                        for (int kj = 0; kj < size; kj++) {
                            const uint8_t *p = p0 + ((long)ki * W + kj) * C;
                            for (int c = 0; c < C; c++) o[c] = p[c] > o[c] ? p[c] : o[c];
                        }
                    continue;
                }
                for (int c = 0; c < C; c++) acc[c] = isMax ? -1 : 0;
                for (int ki = 0; ki < size; ki++) {
                    int ih = i * stride - pad + ki;
                    if (ih < 0 || ih >= H) continue;
                    for (int kj = 0; kj < size; kj++) {
                        int iw = j * stride - pad + kj;
                        if (iw < 0 || iw >= W) continue;
                        const uint8_t *p = src + ((long)ih * W + iw) * C;
                        if (isMax) for (int c = 0; c < C; c++) acc[c] = p[c] > acc[c] ? p[c] : acc[c];
                        else for (int c = 0; c < C; c++) acc[c] += p[c];
                    }
                }
                if (isMax) for (int c = 0; c < C; c++) o[c] = (uint8_t)(acc[c] > 0 ? acc[c] : 0);
                else for (int c = 0; c < C; c++) o[c] = (uint8_t)((acc[c] + div / 2) / div);
            }
    }
}
