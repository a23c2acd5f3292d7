// CDirectConv — a direct stride-1 convolution on NCHW floats, and its weight gradient, for the engine's Conv2D
// (Sources/Engine/Layers/Conv2D.swift) where the CPU has AVX-512 or AVX2 with FMA: no
// im2col, no BLAS; strided layers with overlapping windows run as stride-1 ones over a
// polyphase split of their input (strided.c, declared at the end).
// Each sample's zero-padded input is one flat [C][PH][PW] array, so the input a kernel
// tap (c, ki, kj) needs for 16 consecutive "wide" output positions q = oh·PW + ow
// (ow < PW, those past OW discarded) is 16 consecutive floats; register tiles of
// MR output channels × 16·V positions (8 × 48, 8 × 32 or 16 × 16: the least lanes
// wasted on the layer's plane, weighted by each shape's measured speed) accumulate with fused multiply-adds, starting
// from the bias and adding the taps in the order c, ki, kj, in blocks of 288 / k² input
// channels (each block a chain of its own, then added to the output: as accurate as BLAS's
// blocked sums), so that every tile shape, and AVX2's sub-tiles of 4 channels × 16
// positions, give bitwise the same result. On the way out an inference batch norm
// ((v − mean)·scale + shift per channel, as BatchNorm computes it) and a ReLU
// (v < 0 → 0, as ReLU computes it) can be applied.
#ifndef TLC_CDIRECTCONV_H
#define TLC_CDIRECTCONV_H

/// The instruction set the direct convolution runs with here: 2 AVX-512, 1 AVX2 with FMA, 0 none.
int tlc_direct_conv_level(void);

/// The tile shape for `outputs` channels from `inputs` channels of H×W, kernel k, padding pad (packing and
/// scratch depend on it) with Winograd in 2×2 tiles only, which says whether Winograd applies at all:
/// 0–2 the direct convolution's register tiles, 3 Winograd
/// F(2×2, 3×3) (3×3 kernels with at least 32 input and output channels on planes of at least 7×7 outputs: 16
/// multiply-adds per 2×2 outputs and channel instead of 36; each output's sums run in another order than the
/// direct convolution's, with the same contract: bitwise the same with AVX-512 or AVX2, any thread count).
int tlc_direct_conv_shape(int outputs, int inputs, int H, int W, int k, int pad);
/// The tile shape of a forward pass, inference or training, and of dx as a convolution of dy (the weight gradient takes
/// the layer's; at padding 1 the two are the same): tlc_direct_conv_shape's, or 4, Winograd F(4×4, 3×3)
/// (36 multiply-adds per 4×4 outputs and channel instead of 144, with a float32 error up to 15–26× F(2×2, 3×3)'s),
/// where F(2×2, 3×3) applies and 4×4 tiles cover the plane with at most a tenth more positions than 2×2 ones, or
/// both sides have 128 channels or more. The choice depends on the shape only: the same bits with AVX-512 or AVX2.
int tlc_direct_conv_forward_shape(int outputs, int inputs, int H, int W, int k, int pad);

/// Floats of the packed weights for `outputs` × `inputs` × k × k in tile shape `shape`.
long tlc_direct_conv_packed_count(int shape, int outputs, int inputs, int k);
/// Packs OIHW weights into blocks of MR output channels: [block][c][ki][kj][MR] (zero past `outputs`).
void tlc_direct_conv_pack(int shape, const float *w, int outputs, int inputs, int k, float *packed);
/// The same for share `part` of `parts` of the output channels (the parts together pack what tlc_direct_conv_pack does).
void tlc_direct_conv_pack_part(int shape, const float *w, int outputs, int inputs, int k, int part, int parts, float *packed);

/// Floats of scratch one call needs, whatever its number of samples (the direct tiles: one sample's padded
/// input with slack and its wide output; Winograd: the split inputs, transforms and sums of one block of tiles).
long tlc_direct_conv_scratch_count(int shape, int outputs, int inputs, int H, int W, int k, int pad);

/// y[s] = conv(x[s]) + bias (none when bias is NULL) for `samples` NCHW samples of C×H×W, stride 1, zero padding
/// `pad`; then, when `mean` is not NULL, (v − mean[o])·scale[o] + shift[o]; then ReLU
/// when `relu`, clamped at `ceiling` too (ReLU6's 6; INFINITY for a plain ReLU). With `mask` (x's shape, may be NULL) x counts only where mask > 0 (the
/// input gradient through a fused ReLU). y holds outputs × OH × OW per sample. `level` 1
/// or 2, at most tlc_direct_conv_level().
void tlc_direct_conv(int level, int shape, const float *x, const float *mask, int samples, int C, int H, int W, const float *packed,
                     const float *bias, int outputs, int k, int pad, const float *mean, const float *scale, const float *shift, int relu, float ceiling,
                     float *scratch, float *y);

/// Floats of scratch the weight gradient needs: a chunk of samples' padded inputs (with slack) and wide output gradients.
long tlc_direct_conv_weight_grad_scratch_count(int outputs, int inputs, int H, int W, int k, int pad);

/// The weight and bias gradients of the same convolution: dW[o][c][ki][kj] (OIHW) = Σ over
/// the `samples` samples and their output positions p of dy[s][o][p] · xpad[s][c][p + (ki, kj)],
/// and db[o] = Σ dy[s][o][p] (when db is not NULL); with `mask` (dy's shape, may be NULL)
/// dy counts only where mask > 0. Sums run in 16 lanes over the wide positions of a chunk
/// of samples (fixed by the geometry; one fused multiply-add chain per lane, AVX2 as two
/// halves), are reduced by one fixed tree and added to dW and db (which start from 0)
/// chunk by chunk: the same bits with either instruction set, any tiling and any thread
/// count. x holds samples × C × H × W, dy samples × outputs × OH × OW. Where Winograd applies
/// (3×3 kernels, see tlc_direct_conv_shape) dW is computed as Winograd instead, in the tiles of the
/// layer's forward pass (tlc_direct_conv_forward_shape: F(2×2, 3×3) or F(4×4, 3×3)): 16 or 36 sums
/// over the tiles of all samples in blocks of up to 128 (one fused multiply-add chain per output
/// and block), transformed back to the 3×3 kernel; db as one chain per output over each
/// sample's positions, the samples' sums added in order; the same guarantees.
void tlc_direct_conv_weight_grad(int level, const float *x, const float *dy, const float *mask, int samples, int C, int H, int W,
                                 int outputs, int k, int pad, float *scratch, float *dW, float *db);
/// Both gradients of a training pass: tlc_direct_conv_weight_grad (dW, db; scratch gradScratch), then dx =
/// tlc_direct_conv(level, dxShape, dy, mask, samples, outputs, OH, OW, packed, no bias, C, k, k − 1 − pad, no epilogue,
/// dxScratch) with `packed` the flipped, channel-transposed kernel packed for dxShape: bitwise what those two calls give.
/// Where both run as Winograd in the same tiles at padding 1 (dxShape tlc_direct_conv_forward_shape's, as the layer's), each
/// sample's dy is copied channels-last (through the mask) once for both, and its dx computed while that copy is in cache.
void tlc_direct_conv_backward(int level, const float *x, const float *dy, const float *mask, int samples, int C, int H, int W, int outputs,
                              int k, int pad, float *gradScratch, float *dW, float *db, int dxShape, const float *packed,
                              float *dxScratch, float *dx);
/// Whether tlc_direct_conv_relu_pool runs a layer of tile shape `shape`: Winograd (shape 3 or 4) with an even number
/// of output rows and columns, whose 2×2 or 4×4 tiles hold whole pooling windows.
int tlc_direct_conv_pools(int shape, int H, int W, int k, int pad);
/// tlc_direct_conv with a ReLU (no mask or batch norm) and then 2×2 max pooling at stride 2, for layers
/// tlc_direct_conv_pools says it runs: `pooled` gets samples × outputs × (OH / 2) × (OW / 2) and argmax each window's
/// winner's index in its OH × OW plane (the first of equal values); bitwise what tlc_direct_conv then tlc_max_pool give.
/// The full output is never written.
void tlc_direct_conv_relu_pool(int level, int shape, const float *x, int samples, int C, int H, int W, const float *packed, const float *bias,
                               int outputs, int k, int pad, float *scratch, float *pooled, int *argmax);
/// tlc_direct_conv_backward of a layer whose ReLU and pool ran in tlc_direct_conv_relu_pool, at padding 1, with dx (when
/// not NULL) in the forward pass's Winograd tiles too (dxShape its shape): `dy` is the pooled gradient (samples × outputs × OH / 2 × OW / 2), `y` the
/// pooled output and `argmax` the winners. The layer's gradient is 0 + dy at each winner where y > 0 and 0 elsewhere (what
/// the pool's and the ReLU's backward give), built channels-last straight from them; bitwise tlc_direct_conv_backward of
/// that gradient without a mask. Returns 1, or 0 (and does nothing) where it does not apply.
int tlc_direct_conv_backward_pooled(int level, const float *x, const float *dy, const float *y, const int *argmax, int samples, int C, int H,
                                    int W, int outputs, int k, int pad, float *gradScratch, float *dW, float *db, int dxShape,
                                    const float *packed, float *dxScratch, float *dx);
/// Whether 1×1 convolutions (stride 1, no padding) run faster as OpenBLAS GEMMs than as these tiles here: on Intel
/// CPUs (an Emerald Rapids Xeon, one thread: OpenBLAS's sgemm 1.2–2.1× the tiles' 1×1 forward passes, 1.0–3.1× their
/// weight gradients); not on AMD's (a Zen 5 measured the tiles' 1×1 layers at 109–154 GFLOP/s on one thread).
int tlc_pointwise_prefers_blas(void);
/// The epilogue alone, in place over `count` floats of each of `outputs` rows `stride` apart: (v − mean)·scale + shift
/// when `mean` is not NULL, then ReLU (clamped at `ceiling`) when `relu`, rounded exactly as tlc_direct_conv's (and
/// BatchNorm's, ReLU's).
void tlc_direct_conv_epilogue(float *y, int outputs, int count, long stride, const float *mean, const float *scale, const float *shift,
                              int relu, float ceiling);
/// Strided convolutions as stride-1 ones (strided.c): a convolution of stride s, kernel k and padding p is a
/// stride-1 convolution without padding over the split input's C·R² planes of (OH + k' − 1) × (OW + k' − 1),
/// k' = ⌈k/s⌉ (tlc_strided_kernel_size), R = min(s, k) phases per axis (tlc_strided_phases):
/// X[r][t][c][u][v] = the zero-padded input at row s·u + r, column s·v + t.
int tlc_strided_phases(int k, int stride);
int tlc_strided_kernel_size(int k, int stride);
/// Whether a layer of `inputs` channels runs so (its forward pass by tlc_strided_conv, its training over the split
/// with k' × k' taps for every phase, zero taps included): overlapping windows (k > stride, stride ≤ 8; not 1×1), and
/// the split's taps at most 1.5× the layer's own (7×7 and 5×5 at stride 2, 11×11 at stride 4) or inputs·k² < 64 (an
/// RGB 3×3 stride-2 stem); not 3×3 at stride 2 over more channels.
int tlc_strided_applies(int inputs, int k, int stride);
/// The forward convolution over the split, each phase (r, t) with its own ⌈(k − r)/s⌉ × ⌈(k − t)/s⌉ taps: the
/// register tiles of tlc_direct_conv (shape 0–2 from tlc_strided_conv_shape, weights from tlc_strided_conv_pack),
/// the phases' sums in order, each in blocks of channels; with the same bias, batch norm and ReLU epilogue and
/// the same bits with AVX-512 or AVX2. x holds samples × C × H × W, y samples × outputs × OH × OW.
int tlc_strided_conv_shape(int outputs, int inputs, int H, int W, int k, int stride, int pad);
long tlc_strided_conv_packed_count(int shape, int outputs, int inputs, int k);
void tlc_strided_conv_pack(int shape, const float *w, int outputs, int inputs, int k, int stride, float *packed);
long tlc_strided_conv_scratch_count(int shape, int outputs, int inputs, int H, int W, int k, int stride, int pad);
void tlc_strided_conv(int level, int shape, const float *x, int samples, int C, int H, int W, const float *packed, const float *bias,
                      int outputs, int k, int stride, int pad, const float *mean, const float *scale, const float *shift, int relu,
                      float ceiling, float *scratch, float *y);
/// Floats of one sample's split, and the split of `samples` NCHW samples of C×H×W (out: samples × R² × C planes).
long tlc_strided_split_count(int C, int H, int W, int k, int stride, int pad);
void tlc_strided_split(const float *x, int samples, int C, int H, int W, int k, int stride, int pad, float *out);
/// The split's adjoint for the input gradient: dx[n][c][h][w] = the split gradient's element that copied x[n][c][h][w]
/// (0 where no output reads it).
void tlc_strided_merge(const float *split, int samples, int C, int H, int W, int k, int stride, int pad, float *dx);
/// The training kernel W'[o][r][t][c][a][b] = W[o][c][s·a + r][s·b + t] (0 past k) from OIHW W ([outputs][R²·inputs][k'][k']),
/// and its gradient back: dW[o][c][a][b] = dW'[o][a mod s][b mod s][c][a / s][b / s].
void tlc_strided_kernel(const float *w, int outputs, int inputs, int k, int stride, float *out);
void tlc_strided_kernel_gradient(const float *dsplit, int outputs, int inputs, int k, int stride, float *dw);
#endif
