// CDirectConv's strided convolutions as stride-1 ones (a space-to-depth, or polyphase, split).
// A convolution of stride s, kernel k and padding p reads the padded input xp[c][s·i + a][s·j + b]
// for output (i, j) and tap (a, b). With a = s·a' + r and b = s·b' + t (r, t < R = min(s, k)),
// that is X[c][r][t][i + a'][j + b'] for the split X[c][r][t][u][v] = xp[c][s·u + r][s·v + t]:
// a stride-1 convolution without padding, kernel k' = ⌈k/s⌉, over the C·R² planes of X
// ((OH + k' − 1) × (OW + k' − 1) each), with W'[o][c][r][t][a'][b'] = W[o][c][s·a' + r][s·b' + t]
// (0 where s·a' + r or s·b' + t ≥ k). So the direct convolution (and its weight gradient and
// transposed convolution) run strided layers with contiguous loads; the zero taps cost
// R²·k'² / k² of the real work (1.31 for 7×7 stride 2), which tlc_strided_applies weighs.
// Pure copies: the split, its adjoint and the kernel's two maps move values and add nothing.
#include "cdirectconv.h"
#include <string.h>

int tlc_strided_phases(int k, int stride) { return stride < k ? stride : k; }

int tlc_strided_kernel_size(int k, int stride) { return (k + stride - 1) / stride; }

int tlc_strided_applies(int inputs, int k, int stride) {
    // Windows that overlap (k > s). Not k ≤ s, a 1×1 convolution of the split: ResNet-18's
    // 1×1 stride-2 shortcuts measured 1.3–2× slower that way than on BLAS (Xeon, AVX-512).
    if (stride < 2 || k <= stride) return 0;
    const long R = tlc_strided_phases(k, stride), kk = tlc_strided_kernel_size(k, stride);
    // At most 1.5× the real multiply-adds: 7×7 (1.31) and 5×5 (1.44) at stride 2, 11×11 at
    // stride 4 (1.19); or any waste where BLAS's GEMM would be shallower than 64 (an RGB
    // image's 3×3 stride-2 stem, 27 deep: MobileNetV2's measured 1.3× as fast split, its batch
    // norm fused too). Not 3×3 at stride 2 over 64 channels or more (ResNet's): 1.78× the
    // multiply-adds, 1.5–2× slower than BLAS.
    return 2 * R * R * kk * kk <= 3L * k * k || (long)inputs * k * k < 64;
}

// Side of the split planes along one axis: OH + k' − 1 rows of X are read.
static int split_side(int H, int k, int stride, int pad) {
    const int O = (H + 2 * pad - k) / stride + 1;
    return O + tlc_strided_kernel_size(k, stride) - 1;
}

// dst[v] = src[s·v] for v < n (the stride a constant where it is 2, so that it vectorizes).
static inline void copy_every(float *restrict dst, const float *restrict src, int n, int s) {
    if (s == 2) for (int v = 0; v < n; v++) dst[v] = src[2 * v];
    else for (int v = 0; v < n; v++) dst[v] = src[(long)s * v];
}

// The columns v of phase t that read input columns w = s·v + t − pad inside [0, W): [lo, hi).
static void column_range(int t, int stride, int pad, int W, int SW, int *lo, int *hi) {
    int a = 0;
    while (a < SW && stride * a + t - pad < 0) a++;
    int b = SW;
    while (b > a && stride * (b - 1) + t - pad >= W) b--;
    *lo = a; *hi = b;
}

long tlc_strided_split_count(int C, int H, int W, int k, int stride, int pad) {
    const long R = tlc_strided_phases(k, stride);
    return (long)C * R * R * split_side(H, k, stride, pad) * split_side(W, k, stride, pad);
}

void tlc_strided_split(const float *x, int samples, int C, int H, int W, int k, int stride, int pad, float *out) {
    const int R = tlc_strided_phases(k, stride), SH = split_side(H, k, stride, pad), SW = split_side(W, k, stride, pad);
    for (long n = 0; n < samples; n++)
        for (int c = 0; c < C; c++) {
            const float *xc = x + (n * C + c) * H * W;
            for (int r = 0; r < R; r++)
                for (int t = 0; t < R; t++) {
                    float *plane = out + (((n * C + c) * R + r) * R + t) * SH * SW;
                    int lo, hi;
                    column_range(t, stride, pad, W, SW, &lo, &hi);
                    for (int u = 0; u < SH; u++) {
                        float *row = plane + (long)u * SW;
                        const int h = stride * u + r - pad;
                        if (h < 0 || h >= H || lo == hi) { memset(row, 0, (size_t)SW * sizeof(float)); continue; }
                        memset(row, 0, (size_t)lo * sizeof(float));
                        copy_every(row + lo, xc + (long)h * W + stride * lo + t - pad, hi - lo, stride);
                        memset(row + hi, 0, (size_t)(SW - hi) * sizeof(float));
                    }
                }
        }
}

void tlc_strided_merge(const float *split, int samples, int C, int H, int W, int k, int stride, int pad, float *dx) {
    const int R = tlc_strided_phases(k, stride), SH = split_side(H, k, stride, pad), SW = split_side(W, k, stride, pad);
    for (long n = 0; n < samples; n++)
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++) {
                float *row = dx + ((n * C + c) * H + h) * W;
                const int r = (h + pad) % stride, u = (h + pad) / stride;
                for (int w = 0; w < W; w++) {
                    const int t = (w + pad) % stride, v = (w + pad) / stride;
                    // Rows and columns no output reads (past the last window, or phases ≥ R) get 0.
                    row[w] = r < R && t < R && u < SH && v < SW ? split[((((n * C + c) * R + r) * R + t) * SH + u) * SW + v] : 0;
                }
            }
}

void tlc_strided_kernel(const float *w, int outputs, int inputs, int k, int stride, float *out) {
    const int R = tlc_strided_phases(k, stride), kk = tlc_strided_kernel_size(k, stride);
    for (long o = 0; o < outputs; o++)
        for (int c = 0; c < inputs; c++)
            for (int r = 0; r < R; r++)
                for (int t = 0; t < R; t++)
                    for (int a = 0; a < kk; a++)
                        for (int b = 0; b < kk; b++) {
                            const int ki = stride * a + r, kj = stride * b + t;
                            out[((((o * inputs + c) * R + r) * R + t) * kk + a) * kk + b] =
                                ki < k && kj < k ? w[((o * inputs + c) * k + ki) * k + kj] : 0;
                        }
}

void tlc_strided_kernel_gradient(const float *dsplit, int outputs, int inputs, int k, int stride, float *dw) {
    const int R = tlc_strided_phases(k, stride), kk = tlc_strided_kernel_size(k, stride);
    for (long o = 0; o < outputs; o++)
        for (int c = 0; c < inputs; c++)
            for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++)
                    dw[((o * inputs + c) * k + ki) * k + kj] =
                        dsplit[((((o * inputs + c) * R + ki % stride) * R + kj % stride) * kk + ki / stride) * kk + kj / stride];
}
