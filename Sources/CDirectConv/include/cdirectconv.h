// CDirectConv — a direct stride-1 convolution on NCHW floats for the engine's Conv2D
// (Sources/Engine/Layers/Conv2D.swift) where the CPU has AVX-512: no im2col, no BLAS.
// Each sample's zero-padded input is one flat [C][PH][PW] array, so the input a kernel
// tap (c, ki, kj) needs for 16 consecutive "wide" output positions q = oh·PW + ow
// (ow < PW, those past OW discarded) is 16 consecutive floats; tiles of 8 output channels
// × 48 positions accumulate in registers with fused multiply-adds, start from the bias
// and are rectified on the way out when a ReLU is fused.
#ifndef TLC_CDIRECTCONV_H
#define TLC_CDIRECTCONV_H

/// Whether this CPU runs the direct convolution.
int tlc_direct_conv_supported(void);

/// Floats of the packed weights for `outputs` × `inputs` × k × k.
long tlc_direct_conv_packed_count(int outputs, int inputs, int k);
/// Packs OIHW weights into blocks of 8 output channels: [block][c][ki][kj][8] (zero past `outputs`).
void tlc_direct_conv_pack(const float *w, int outputs, int inputs, int k, float *packed);

/// Floats of scratch one sample needs: its padded input (with slack) and the wide output.
long tlc_direct_conv_scratch_count(int outputs, int inputs, int H, int W, int k, int pad);

/// y[s] = conv(x[s]) + bias (then max(·, 0) when relu) for `samples` NCHW samples of
/// C×H×W, stride 1, zero padding `pad`; y holds outputs × OH × OW per sample.
void tlc_direct_conv(const float *x, int samples, int C, int H, int W, const float *packed, const float *bias,
                     int outputs, int k, int pad, int relu, float *scratch, float *y);
#endif
