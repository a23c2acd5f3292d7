// CDepthwiseConv — the depthwise convolution (one k×k filter per channel, any stride and
// zero padding, as MobileNetV2's and EfficientNet's) on NCHW floats, and its gradients,
// for the engine's GroupedConv2D (Sources/Engine/Layers/GroupedConv2D.swift).
//
// Each channel's zero-padded plane is split into stride² phase planes
// P[a][b][r][c] = xpad[r·stride + a][c·stride + b], so that the input of kernel tap
// (ki, kj) for 16 consecutive "wide" output positions q = oy·PWq + ox (ox < PWq, those
// past OW unused) is 16 consecutive floats of one phase plane. Every output is one chain
// of fused multiply-adds in a fixed order (the bias, then the taps ki-major), every
// weight-gradient lane one chain over the samples and positions in order, reduced by one
// fixed tree; each vector lane is its own output, so AVX-512 (16 lanes), AVX2 (two
// halves of 8) and plain C (level 0: the compiler's fused multiply-add per lane; `level` as
// CDirectConv's tlc_direct_conv_level reports the CPU's) give
// bitwise the same results, and so does any split of the planes or channels between
// threads.
#ifndef TLC_CDEPTHWISECONV_H
#define TLC_CDEPTHWISECONV_H

/// Floats of scratch one call needs for H×W planes, a k×k kernel, `stride` and `pad`.
long tlc_depthwise_scratch_count(int H, int W, int k, int stride, int pad);

/// Output planes `first` ..< `last` of y = depthwise(x) + bias (bias may be NULL): plane
/// p is channel p % C of sample p / C. x holds samples × C × H × W, y samples × C × OH × OW
/// (OH = (H + 2·pad − k) / stride + 1, likewise OW); w is [C][k][k].
void tlc_depthwise_forward(int level, const float *x, int C, int H, int W, const float *w, const float *bias, int k, int stride,
                           int pad, long first, long last, float *scratch, float *y);

/// The gradients of channels `first` ..< `last` over all `samples`: dx (x's shape, may
/// be NULL) = the transposed convolution of dy, dW[c][ki][kj] = Σ dy · x over the samples'
/// positions, db[c] = Σ dy (dW and db may be NULL). dW and db are written, not added to.
void tlc_depthwise_backward(int level, const float *x, const float *dy, int samples, int C, int H, int W, const float *w, int k,
                            int stride, int pad, int first, int last, float *scratch, float *dx, float *dW, float *db);
#endif
