// CDirectConv's Winograd path (private): the direct convolution's tile shapes 3 (F(2×2, 3×3),
// chosen by tlc_direct_conv_shape) and 4 (F(4×4, 3×3), which tlc_direct_conv_forward_shape
// may choose instead, for forward passes and a training pass's dW and dx), for 3×3 kernels with at least 32 input and output channels on planes
// of at least 7×7 outputs. The same contract as tlc_direct_conv (bias, mask, batch norm and
// ReLU epilogue, or a ReLU and 2×2 max pooling; bitwise the same with AVX-512 or AVX2),
// another summation: see winograd.c; and the weight gradient of the same layers, the same
// contract as tlc_direct_conv_weight_grad, another summation, with dx from the same copy of
// dy (from a pooled gradient too): see winograd_grad.c.
#ifndef TLC_CDIRECTCONV_WINOGRAD_H
#define TLC_CDIRECTCONV_WINOGRAD_H

/// The output tile m of a 3×3 stride-1 convolution run as Winograd F(m×m, 3×3): 2, or 4 where `four` allows it and it pays
/// (the tiles of forward passes, the pooled epilogue's included, and of dW and dx), 0 when Winograd does not apply.
int tlc_winograd_tile(int outputs, int inputs, int H, int W, int k, int pad, int four);
/// Floats of the transformed kernel, and the transform of OIHW 3×3 weights into it, for tiles of m: the
/// blocks of 32 output channels ob0 … ob1 − 1 of tlc_winograd_pack_units(outputs).
long tlc_winograd_packed_count(int m, int outputs, int inputs);
long tlc_winograd_pack_units(int outputs);
void tlc_winograd_pack(int m, const float *w, int outputs, int inputs, long ob0, long ob1, float *packed);
/// Floats of scratch one part needs.
long tlc_winograd_scratch_count(int m, int outputs, int inputs, int H, int W, int pad);
/// tlc_direct_conv for k = 3 (see cdirectconv.h) in tiles of m.
void tlc_winograd_conv(int m, int level, const float *x, const float *mask, int samples, int C, int H, int W, const float *packed,
                       const float *bias, int outputs, int pad, const float *mean, const float *scale, const float *shift, int relu, float ceiling,
                       float *scratch, float *y);

/// The weight gradient of the layers Winograd applies to, in the forward pass's tiles of m (winograd_grad.c): the floats
/// of scratch one call needs, and the gradient.
long tlc_winograd_grad_scratch_count(int m, int outputs, int inputs, int H, int W, int pad);
/// tlc_direct_conv_weight_grad for k = 3 (see cdirectconv.h) in tiles of m: dW written (not added to), db too.
void tlc_winograd_weight_grad(int m, int level, const float *x, const float *dy, const float *mask, int samples, int C, int H, int W,
                              int outputs, int pad, float *scratch, float *dW, float *db);
/// Both gradients of a layer with padding 1 in tiles of m: dW and db as tlc_winograd_weight_grad, and dx =
/// tlc_winograd_conv(m, level, dy, mask, samples, outputs, OH, OW, packed (the flipped, transposed kernel), no bias, C,
/// padding 1, …, dxScratch, dx), from one channels-last copy of each sample's dy: bitwise what the two calls give.
void tlc_winograd_backward(int m, int level, const float *x, const float *dy, const float *mask, int samples, int C, int H, int W,
                           int outputs, float *scratch, float *dW, float *db, const float *packed, float *dxScratch, float *dx);
/// tlc_winograd_backward for a layer whose ReLU and 2×2 max pool ran in tlc_winograd_conv_relu_pool: the gradient is the
/// pooled one (pooledDy, with the pooled output pooledY and the winners argmax); see tlc_direct_conv_backward_pooled.
void tlc_winograd_backward_pooled(int m, int level, const float *x, const float *pooledDy, const float *pooledY, const int *argmax,
                                  int samples, int C, int H, int W, int outputs, float *scratch, float *dW, float *db, const float *packed,
                                  float *dxScratch, float *dx);
/// tlc_winograd_conv in tiles of m with a ReLU (no mask, batch norm or ceiling) and then 2×2 max pooling at stride 2 (OH and
/// OW even): `pooled` gets samples × outputs × (OH / 2) × (OW / 2), argmax each window's winner's index in its OH × OW
/// plane; the bits of tlc_winograd_conv then tlc_max_pool.
void tlc_winograd_conv_relu_pool(int m, int level, const float *x, int samples, int C, int H, int W, const float *packed, const float *bias,
                                 int outputs, int pad, float *scratch, float *pooled, int *argmax);
/// Tiles per block of tlc_winograd_conv in tiles of m.
long winograd_block_tiles(int m, int outputs, int inputs, int H, int W, int pad);
/// tlc_winograd_conv in tiles of m without bias or epilogue over tiles tBegin … tEnd − 1 of x's samples (x and y point to
/// sample 0; blocks of winograd_block_tiles from tBegin), whose channels-last copies are in `slots` (sample s in
/// slots[s % nslots] where loaded[s % nslots] == s; others are copied there from x and mask).
void winograd_conv_loaded(int m, int level, const float *x, const float *mask, long tBegin, long tEnd, int C, int H, int W, const float *packed,
                          int outputs, int pad, float *const *slots, int *loaded, int nslots, float *scratch, float *y);
#endif
