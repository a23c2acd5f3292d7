// CBatchNorm — the per-channel loops of a training batch norm for the engine's BatchNorm
// (Sources/Engine/Layers/BatchNorm.swift), in AVX2 where the CPU has it: the statistics,
// the normalization with its fused ReLU or ReLU6, and the backward pass's sums and input
// gradient. Each function computes bitwise what BatchNorm's Swift loops compute (the same
// lanes, the same order, no fused multiply-adds); those loops remain for CPUs without AVX2,
// and tests compare the two. A channel's values are `samples` rows of `count` floats, row s
// at s·stride.
#ifndef TLC_CBATCHNORM_H
#define TLC_CBATCHNORM_H

/// 1 when these kernels run here (AVX2), 0 when BatchNorm must use its Swift loops.
int tlc_batchnorm_level(void);

/// Σ over the rows of each row's sum in float64 (8 lanes, then the lanes in order, then the tail), rows in order.
double tlc_batchnorm_sum(const float *x, long samples, long stride, long count);
/// The same for (x − mean)² (x in float64).
double tlc_batchnorm_squared_deviation(const float *x, long samples, long stride, long count, double mean);
/// y = ((x − mean)·invStd)·gamma + beta; then, with `relu`, v < 0 ? 0 : v, or with a finite
/// `ceiling`, min(max(v, 0), ceiling) as Swift's min and max compute it.
void tlc_batchnorm_normalize(const float *x, float *y, long samples, long stride, long count, float mean, float invStd, float gamma,
                             float beta, int relu, float ceiling);
/// Per row, g = dy (0 where a fused ReLU's output `mask` does not pass: mask > 0, and mask < ceiling when
/// finite; no mask when NULL) and x̂ = (x − mean)·invStd: Σ g and Σ g·x̂ in 8 float lanes, the lanes then
/// the tail added in float64; the rows' sums added in order into sums[0] and sums[1].
void tlc_batchnorm_gradient_sums(const float *dy, const float *x, const float *mask, long samples, long stride, long count, float mean,
                                 float invStd, float ceiling, double *sums);
/// dx = k·((m·g − sumG) − x̂·sumGX), with g and x̂ as above.
void tlc_batchnorm_input_gradient(const float *dy, const float *x, const float *mask, float *dx, long samples, long stride, long count,
                                  float mean, float invStd, float ceiling, float k, float m, float sumG, float sumGX);
#endif
