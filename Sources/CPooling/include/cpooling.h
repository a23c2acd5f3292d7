// CPooling — max pooling's forward pass for the engine's MaxPool2D
// (Sources/Engine/Layers/Pooling.swift), any square window, stride and padding: each
// output is the first of the largest values of its window (clipped to the input; padding
// never wins) in row-major order, compared with `>` as the scalar definition does, so a
// NaN in the first place stays and later NaNs never win. Plain C that the compiler
// vectorizes over a row of outputs (the taps outer, the outputs inner), compiled for
// AVX-512, AVX2 and plain x86-64 and chosen at run time, with the same result on every CPU.
#ifndef TLC_CPOOLING_H
#define TLC_CPOOLING_H

/// Planes of h × w in x to planes of oh × ow in y (window `size`, `stride`, `pad`, output
/// (i, j) covering input rows i·stride − pad … and columns j·stride − pad …). With `argmax`
/// (not NULL) it also records, per output, the index of the winner within its input plane.
/// A window with no input at all (only possible in ceil mode) gives 0 with index 0.
void tlc_max_pool(const float *x, long planes, int h, int w, int oh, int ow, int size, int stride, int pad,
                  float *y, int *argmax);
/// The instruction set tlc_max_pool runs with here: 2 AVX-512, 1 AVX2, 0 plain x86-64 (or another CPU).
int tlc_max_pool_level(void);
/// tlc_max_pool with the instruction set chosen (0 … tlc_max_pool_level(); tests compare them).
void tlc_max_pool_at(int level, const float *x, long planes, int h, int w, int oh, int ow, int size, int stride, int pad,
                     float *y, int *argmax);
#endif
