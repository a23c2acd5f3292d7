// CInt8 — the integer kernels of tlc's int8 inference path (see
// Sources/Engine/Compression/QuantizedInference.swift): an unsigned×signed 8-bit GEMM
// with 32-bit accumulation and the requantization fused into it, convolution as an
// implicit GEMM (no im2col), pooling and input quantization on NHWC uint8 images.
//
// Three GEMM kernels compute the same integers: AVX-512 VNNI (vpdpbusd), AVX2
// (vpmaddubsw + vpmaddwd) and a portable loop. Activations are uint8 in [0, 127] and
// weights int8 in [-127, 127], so AVX2's 16-bit pair sums (at most 2·127·127) never
// saturate; integer accumulation is exact, and the float requantization runs the same
// IEEE operations in the same order on every path (no FMA, round half to even), so all
// kernels return bit-identical outputs. The caller picks the kernel (tlc_int8_best_kernel
// for the machine's best).
#ifndef TLC_CINT8_H
#define TLC_CINT8_H
#include <stddef.h>
#include <stdint.h>

/// The GEMM kernels.
enum { TLC_INT8_PORTABLE = 0, TLC_INT8_AVX2 = 1, TLC_INT8_AVX512_VNNI = 2 };

/// Whether `kernel` can run on this CPU (the portable kernel always can).
int tlc_int8_kernel_supported(int kernel);
/// The fastest kernel this CPU runs.
int tlc_int8_best_kernel(void);

/// Output channels per packed panel.
#define TLC_INT8_PANEL 16

/// A conv or dense layer ready for the GEMM: weights packed by tlc_int8_pack, where
/// each group of 4 columns lies in the input, and the per-channel requantization.
/// zeroTerm, scale and bias hold panels·16 entries (zero past M).
typedef struct {
    int M;                  ///< outputs
    int Kp;                 ///< packed columns (a multiple of 4)
    const int8_t *packed;   ///< tlc_int8_packed_size(M, Kp) bytes
    const int32_t *offsets; ///< Kp/4 entries: group g of a row's 4 inputs starts offsets[g] bytes after the row's start
    const int32_t *zeroTerm;///< zpIn · Σ_k A[m][k] (the input zero point's share of the accumulator)
    const float *scale;     ///< input scale × weight scale of row m
    const float *bias;
    int relu;               ///< clamp below at 0 before quantizing
    float invOut;           ///< 1 / output scale
    int zpOut, qmax;        ///< output zero point and largest code
} tlc_qlayer;

/// Bytes of a packed weight matrix with M rows and K columns.
size_t tlc_int8_packed_size(int M, int K);
/// Packs A (M×K int8, rows `lda` apart) into panels of 16 rows: for each panel, for each
/// group of 4 columns, 16 rows × 4 bytes (zero past M and K). Kp is K rounded up to 4.
void tlc_int8_pack(const int8_t *A, int M, int K, long lda, int8_t *packed);

/// Offsets of a dense layer: rows are contiguous, offsets[g] = 4g.
void tlc_int8_dense_offsets(int Kp, int32_t *offsets);

/// Accumulators only: C[n*ldc + m] = Σ_k B[n*ldb + k] · A[m][k] for n < N, m < M, with
/// dense offsets. Every row of B is read up to Kp bytes: bytes past K meet zero weights
/// (any value) but must be readable.
void tlc_int8_gemm_s32(int kernel, const tlc_qlayer *L, const uint8_t *B, long ldb, int N, int32_t *C, long ldc);

/// The GEMM with requantization: v = float(acc − zeroTerm[m]) · scale[m] + bias[m], then
/// max(v, 0) when relu; fout[n*ldf + m] = v when fout, and out[n*ldo + m] =
/// clamp(round_half_even(clamp(v · invOut, ±1e6)) + zpOut, 0, qmax) when out.
void tlc_int8_gemm_requant(int kernel, const tlc_qlayer *L, const uint8_t *B, long ldb, int N,
                           uint8_t *out, long ldo, float *fout, long ldf);

/// A convolution's geometry: input H×W×C (NHWC), k×k kernel, output OH×OW×M.
typedef struct {
    int H, W, C, k, stride, pad, OH, OW;
    uint8_t zpIn;           ///< what padding reads
    int group;              ///< output pixels per GEMM row (divides OW; more than 1 for layers with few outputs)
} tlc_qconv_shape;

/// A convolution runs as an implicit GEMM on the (zero-point padded) input: the GEMM row
/// of output pixels (oh, ow..<ow+group) starts at input pixel (oh·stride, ow·stride), and
/// its columns are the k kernel rows, each span = ((k + stride·(group−1))·C rounded up to
/// a multiple of 4) contiguous bytes of one input row (bytes no weight uses meet zeros).
/// The layer's M = group × outputs: row j·outputs + m holds output m's weights shifted by
/// j·stride pixels, at column ki·span + (kj + stride·j)·C + c.
int tlc_int8_conv_span(const tlc_qconv_shape *s);
/// The k·span/4 group offsets of a convolution.
void tlc_int8_conv_offsets(const tlc_qconv_shape *s, int32_t *offsets);
/// Bytes of the padded copy of one input image the convolution needs (0 without padding).
size_t tlc_int8_conv_padded_size(const tlc_qconv_shape *s);

/// Convolves `samples` NHWC uint8 images at x into y (OH×OW×M each), requantized.
/// `padded` holds tlc_int8_conv_padded_size bytes; x is read up to 3 bytes past its end.
void tlc_int8_conv(int kernel, const tlc_qlayer *L, const tlc_qconv_shape *s, const uint8_t *x, int samples,
                   uint8_t *y, uint8_t *padded);

/// Float NCHW (C planes of HW) to uint8 NHWC: clamp(round_half_even(clamp(x · inv, ±1e6)) + zp, 0, qmax).
void tlc_int8_quantize_input(const float *x, int samples, int C, int HW, float inv, int zp, int qmax, uint8_t *y);

/// Max (padding ignored; an empty window gives 0) or average (padding counted, rounded
/// half up) pooling over `samples` uint8 NHWC images.
void tlc_int8_pool(const uint8_t *x, int samples, int H, int W, int C, int size, int stride, int pad,
                   int OH, int OW, int isMax, uint8_t *y);
#endif
