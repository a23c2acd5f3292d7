// CDirectConv's register tiles shared with the strided convolution (private): the tile shape
// of a plane, the weights packed per block of output channels, and a sum over groups of
// channels that each read their own kh × kw taps at the top left of the window (the whole
// layer for a plain convolution; one phase of a strided layer's split, see strided.c).
#ifndef TLC_CDIRECTCONV_DIRECT_H
#define TLC_CDIRECTCONV_DIRECT_H
#include "geometry.h"

// Input channels [c0, c1) with kh × kw taps each, their weights packed at `packed` as
// [block][c − c0][ki][kj][MR] (direct_pack_taps of [outputs][(c1 − c0)·kh·kw]).
typedef struct { int c0, c1, kh, kw; const float *packed; } tap_group;

/// Output channels per block (MR), positions per tile (16·V) and blocks for `outputs` channels, of tile shape 0–2.
int direct_rows(int shape);
long direct_tile_positions(int shape);
long direct_blocks(int shape, int outputs);
/// The register tile shape (0–2, never Winograd) with the least weighted work on this plane.
int direct_tile_shape(int outputs, int H, int W, int k, int pad);
/// Packs [outputs][taps] weights into blocks b0 … b1 − 1 of MR output channels: [block][tap][MR] (zero past `outputs`).
void direct_pack_taps(int shape, const float *w, int outputs, long taps, long b0, long b1, float *packed);
/// The wide sums of positions [qa, qb) of one padded sample `src` (geometry g) into wideOut
/// ([block·MR + r][Qt]): the groups in order, each in blocks of channels, the first block
/// from the bias (may be NULL), every later one added (level 1 AVX2, 2 AVX-512: the same bits).
void direct_positions(int level, int shape, const float *src, const geometry *g, const tap_group *groups, int count, int outputs,
                      const float *bias, long qa, long qb, float *wideOut);
/// The epilogue of one sample: each output row of the wide sums, with the batch norm and ReLU, into ys.
void direct_finish(const float *wideOut, const geometry *g, int outputs, const float *mean, const float *scale, const float *shift,
                   int relu, float ceiling, float *ys);
#endif
