// CBatchNorm's kernels (see cbatchnorm.h): 8 float lanes (one AVX register) where the
// Swift loops use SIMD8<Float>, two registers of 4 doubles where they use SIMD8<Double>.
#include "cbatchnorm.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define TLC_X86 1
#endif

// Every operation rounds as written, as Swift's arithmetic does.
#pragma clang fp contract(off)

int tlc_batchnorm_level(void) {
#ifdef TLC_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

#ifdef TLC_X86
// Lanes 0 … 7 of two double vectors added to 0.0 in order.
static inline __attribute__((always_inline, target("avx2"))) double lanes_in_order(__m256d lo, __m256d hi) {
    double l[8];
    _mm256_storeu_pd(l, lo); _mm256_storeu_pd(l + 4, hi);
    double sum = 0.0;
    for (int i = 0; i < 8; i++) sum += l[i];
    return sum;
}

// Σ over the rows of each row's sum of x (deviation 0) or of (x − mean)² (deviation 1), x in
// float64: 8 lanes (two vectors of 4), then the lanes in order, then the tail; rows in order.
static inline __attribute__((always_inline, target("avx2")))
double channel_sum(const float *x, long samples, long stride, long count, const int deviation, double mean) {
    double total = 0.0;
    const __m256d mv = _mm256_set1_pd(mean);
    for (long s = 0; s < samples; s++) {
        const float *p = x + s * stride;
        __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
        long i = 0;
        for (; i + 8 <= count; i += 8) {
            const __m256 v = _mm256_loadu_ps(p + i);
            __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), b = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
            if (deviation) {
                a = _mm256_sub_pd(a, mv); b = _mm256_sub_pd(b, mv);
                a = _mm256_mul_pd(a, a); b = _mm256_mul_pd(b, b);
            }
            lo = _mm256_add_pd(lo, a);
            hi = _mm256_add_pd(hi, b);
        }
        double sum = lanes_in_order(lo, hi);
        for (; i < count; i++) {
            const double d = deviation ? (double)p[i] - mean : (double)p[i];
            sum += deviation ? d * d : d;
        }
        total += sum;
    }
    return total;
}

__attribute__((target("avx2")))
double tlc_batchnorm_sum(const float *x, long samples, long stride, long count) {
    return channel_sum(x, samples, stride, count, 0, 0.0);
}

__attribute__((target("avx2")))
double tlc_batchnorm_squared_deviation(const float *x, long samples, long stride, long count, double mean) {
    return channel_sum(x, samples, stride, count, 1, mean);
}

// The fused activation of a row's last values (past its multiples of 8), as the Swift
// loops compute them one at a time: max(v, 0) (0 >= v ? 0 : v: −0 becomes +0, unlike the
// 8-lane v < 0 ? 0 : v before it), then with a finite ceiling min(v, ceiling) (c < v ? c : v).
static inline float activate(float v, int relu, float ceiling) {
    if (!relu) return v;
    v = 0 >= v ? 0 : v;
    return ceiling < INFINITY && ceiling < v ? ceiling : v;
}

static inline __attribute__((always_inline, target("avx2")))
void normalize_rows(const float *x, float *y, long samples, long stride, long count, float mean, float invStd, float gamma, float beta,
                    const int relu, const int clamp, float ceiling) {
    const __m256 mv = _mm256_set1_ps(mean), iv = _mm256_set1_ps(invStd), gv = _mm256_set1_ps(gamma), bv = _mm256_set1_ps(beta);
    const __m256 zero = _mm256_setzero_ps(), cv = _mm256_set1_ps(ceiling);
    for (long s = 0; s < samples; s++) {
        const float *p = x + s * stride;
        float *q = y + s * stride;
        long i = 0;
        for (; i + 8 <= count; i += 8) {
            __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p + i), mv), iv), gv), bv);
            if (relu && clamp) {
                v = _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LE_OQ));
                v = _mm256_blendv_ps(v, cv, _mm256_cmp_ps(v, cv, _CMP_GT_OQ));
            } else if (relu) v = _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
            _mm256_storeu_ps(q + i, v);
        }
        for (; i < count; i++) q[i] = activate(((p[i] - mean) * invStd) * gamma + beta, relu, ceiling);
    }
}

__attribute__((target("avx2")))
void tlc_batchnorm_normalize(const float *x, float *y, long samples, long stride, long count, float mean, float invStd, float gamma,
                             float beta, int relu, float ceiling) {
    if (!relu) normalize_rows(x, y, samples, stride, count, mean, invStd, gamma, beta, 0, 0, ceiling);
    else if (ceiling < INFINITY) normalize_rows(x, y, samples, stride, count, mean, invStd, gamma, beta, 1, 1, ceiling);
    else normalize_rows(x, y, samples, stride, count, mean, invStd, gamma, beta, 1, 0, ceiling);
}

// dy where a fused ReLU's output passes it (mask > 0, and mask < ceiling), else 0.
static inline __attribute__((always_inline, target("avx2"))) __m256 gradient8(const float *g, const float *m, const int clamp, __m256 cv) {
    const __m256 gv = _mm256_loadu_ps(g);
    if (!m) return gv;
    const __m256 mk = _mm256_loadu_ps(m);
    __m256 pass = _mm256_cmp_ps(mk, _mm256_setzero_ps(), _CMP_GT_OQ);
    if (clamp) pass = _mm256_and_ps(pass, _mm256_cmp_ps(mk, cv, _CMP_LT_OQ));
    return _mm256_and_ps(gv, pass);
}
static inline float gradient1(const float *g, const float *m, float ceiling, long i) {
    if (!m) return g[i];
    return m[i] > 0 && (ceiling < INFINITY ? m[i] < ceiling : 1) ? g[i] : 0;
}

static inline __attribute__((always_inline, target("avx2")))
void gradient_sums(const float *dy, const float *x, const float *mask, long samples, long stride, long count, float mean, float invStd,
                   const int clamp, float ceiling, double *sums) {
    const __m256 mv = _mm256_set1_ps(mean), iv = _mm256_set1_ps(invStd), cv = _mm256_set1_ps(ceiling);
    double a = 0.0, b = 0.0;
    for (long s = 0; s < samples; s++) {
        const float *g = dy + s * stride, *p = x + s * stride, *m = mask ? mask + s * stride : 0;
        __m256 sg = _mm256_setzero_ps(), sgx = _mm256_setzero_ps();
        long i = 0;
        for (; i + 8 <= count; i += 8) {
            const __m256 gv = gradient8(g + i, m ? m + i : 0, clamp, cv);
            sg = _mm256_add_ps(sg, gv);
            sgx = _mm256_add_ps(sgx, _mm256_mul_ps(gv, _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p + i), mv), iv)));
        }
        float lg[8], lgx[8];
        _mm256_storeu_ps(lg, sg); _mm256_storeu_ps(lgx, sgx);
        double ra = 0.0, rb = 0.0;
        for (int l = 0; l < 8; l++) { ra += (double)lg[l]; rb += (double)lgx[l]; }
        for (; i < count; i++) {
            const float gi = gradient1(g, m, ceiling, i);
            ra += (double)gi; rb += (double)(gi * ((p[i] - mean) * invStd));
        }
        a += ra; b += rb;
    }
    sums[0] = a; sums[1] = b;
}

__attribute__((target("avx2")))
void tlc_batchnorm_gradient_sums(const float *dy, const float *x, const float *mask, long samples, long stride, long count, float mean,
                                 float invStd, float ceiling, double *sums) {
    if (mask && ceiling < INFINITY) gradient_sums(dy, x, mask, samples, stride, count, mean, invStd, 1, ceiling, sums);
    else gradient_sums(dy, x, mask, samples, stride, count, mean, invStd, 0, ceiling, sums);
}

static inline __attribute__((always_inline, target("avx2")))
void input_gradient(const float *dy, const float *x, const float *mask, float *dx, long samples, long stride, long count, float mean,
                    float invStd, const int clamp, float ceiling, float k, float m, float sumG, float sumGX) {
    const __m256 mv = _mm256_set1_ps(mean), iv = _mm256_set1_ps(invStd), cv = _mm256_set1_ps(ceiling);
    const __m256 kv = _mm256_set1_ps(k), nv = _mm256_set1_ps(m), sgv = _mm256_set1_ps(sumG), sgxv = _mm256_set1_ps(sumGX);
    for (long s = 0; s < samples; s++) {
        const float *g = dy + s * stride, *p = x + s * stride, *mk = mask ? mask + s * stride : 0;
        float *d = dx + s * stride;
        long i = 0;
        for (; i + 8 <= count; i += 8) {
            const __m256 gv = gradient8(g + i, mk ? mk + i : 0, clamp, cv);
            const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p + i), mv), iv);
            _mm256_storeu_ps(d + i, _mm256_mul_ps(kv, _mm256_sub_ps(_mm256_sub_ps(_mm256_mul_ps(nv, gv), sgv), _mm256_mul_ps(xh, sgxv))));
        }
        for (; i < count; i++) d[i] = k * ((m * gradient1(g, mk, ceiling, i) - sumG) - ((p[i] - mean) * invStd) * sumGX);
    }
}

__attribute__((target("avx2")))
void tlc_batchnorm_input_gradient(const float *dy, const float *x, const float *mask, float *dx, long samples, long stride, long count,
                                  float mean, float invStd, float ceiling, float k, float m, float sumG, float sumGX) {
    if (mask && ceiling < INFINITY) input_gradient(dy, x, mask, dx, samples, stride, count, mean, invStd, 1, ceiling, k, m, sumG, sumGX);
    else input_gradient(dy, x, mask, dx, samples, stride, count, mean, invStd, 0, ceiling, k, m, sumG, sumGX);
}
#else
double tlc_batchnorm_sum(const float *x, long samples, long stride, long count) { (void)x; (void)samples; (void)stride; (void)count; return 0; }
double tlc_batchnorm_squared_deviation(const float *x, long samples, long stride, long count, double mean) {
    (void)x; (void)samples; (void)stride; (void)count; (void)mean; return 0;
}
void tlc_batchnorm_normalize(const float *x, float *y, long samples, long stride, long count, float mean, float invStd, float gamma,
                             float beta, int relu, float ceiling) {
    (void)x; (void)y; (void)samples; (void)stride; (void)count; (void)mean; (void)invStd; (void)gamma; (void)beta; (void)relu; (void)ceiling;
}
void tlc_batchnorm_gradient_sums(const float *dy, const float *x, const float *mask, long samples, long stride, long count, float mean,
                                 float invStd, float ceiling, double *sums) {
    (void)dy; (void)x; (void)mask; (void)samples; (void)stride; (void)count; (void)mean; (void)invStd; (void)ceiling; sums[0] = sums[1] = 0;
}
void tlc_batchnorm_input_gradient(const float *dy, const float *x, const float *mask, float *dx, long samples, long stride, long count,
                                  float mean, float invStd, float ceiling, float k, float m, float sumG, float sumGX) {
    (void)dy; (void)x; (void)mask; (void)dx; (void)samples; (void)stride; (void)count; (void)mean; (void)invStd; (void)ceiling; (void)k;
    (void)m; (void)sumG; (void)sumGX;
}
#endif
