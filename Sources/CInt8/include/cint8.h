// CInt8 — the integer kernels of tlc's int8 inference path (see
// Sources/Engine/Compression/Quantization.swift): an unsigned×signed 8-bit GEMM
// with 32-bit accumulation, requantization, and im2col on NHWC uint8 images.
// Activations are uint8 in [0, 127] and weights int8 in [-127, 127], so no
// 16-bit intermediate can saturate and every path (AVX2 or portable) returns
// exactly the same integers.
#ifndef TLC_CINT8_H
#define TLC_CINT8_H
#include <stdint.h>

/// C[n*M + m] = sum_k B[n*Kp + k] * A[m*Kp + k]  (B: N×Kp uint8, A: M×Kp int8, Kp % 32 == 0).
void tlc_qgemm_u8s8(const uint8_t *B, const int8_t *A, int32_t *C, int N, int M, int Kp);

/// Whether the AVX2 kernel is used on this machine (else the portable loop).
int tlc_qgemm_uses_avx2(void);

/// Requantizes C (N×M int32) row by row: v = (C - zpIn*rowSum[m]) * scale[m] + bias[m],
/// ReLU when relu != 0; then out[n*M+m] = clamp(round(v*invOut) + zpOut, 0, qmax)
/// (when out != NULL) and fout[n*M+m] = v (when fout != NULL).
void tlc_requantize(const int32_t *C, int N, int M, const int32_t *rowSum, int zpIn,
                    const float *scale, const float *bias, int relu, float invOut, int zpOut, int qmax,
                    uint8_t *out, float *fout);

/// im2col over NHWC uint8: cols[(oh*OW+ow)*Kp + (ki*k+kj)*C + c]; padding reads `zp`,
/// columns K..Kp are zero.
void tlc_im2col_u8(const uint8_t *x, int H, int W, int C, int k, int stride, int pad,
                   int OH, int OW, uint8_t zp, int Kp, uint8_t *cols);
#endif
