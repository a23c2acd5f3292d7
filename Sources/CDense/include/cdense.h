// CDense — the fully connected layer's inference pass, y = x·Wᵀ + b (then ReLU), on
// CPUs with AVX-512 or AVX2 and FMA, for the engine's Dense
// (Sources/Engine/Layers/Dense.swift). Both operands are read as they are stored,
// rows of x and rows of W contiguous along k: no packing, so nothing is copied per
// call. Each output is a dot product kept as 16 lane sums (lane l adds the terms
// k ≡ l mod 16 in order, by fused multiply-adds), reduced by one fixed tree
// ((l, l+8), then (l, l+4), (l, l+2), (0, 1)), then the bias added: AVX-512 (register
// tiles of 4 rows × 4 outputs) and AVX2 (2 × 2, each lane set in two halves) give
// bitwise the same result.
#ifndef TLC_CDENSE_H
#define TLC_CDENSE_H

/// The instruction set the kernel runs with on this CPU: 2 AVX-512, 1 AVX2 with FMA, 0 none.
int tlc_dense_level(void);

/// y[i][j] = x[i]·w[j] + bias[j] for i < rows, j < outputs (k inputs each), then
/// max(v, 0) when `relu` (v < 0 → 0); `level` 1 or 2 (at most tlc_dense_level()).
void tlc_dense(int level, const float *x, long rows, long k, const float *w, const float *bias, long outputs,
               int relu, float *y);
#endif
