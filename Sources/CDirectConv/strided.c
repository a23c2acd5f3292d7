// CDirectConv's strided convolutions as stride-1 ones (a space-to-depth, or polyphase, split).
// A convolution of stride s, kernel k and padding p reads the padded input xp[c][s·i + a][s·j + b]
// for output (i, j) and tap (a, b). With a = s·a' + r and b = s·b' + t (r, t < R = min(s, k)),
// that is X[r][t][c][i + a'][j + b'] for the split X[r][t][c][u][v] = xp[c][s·u + r][s·v + t]:
// a stride-1 convolution without padding over the C·R² planes of X ((OH + k' − 1) × (OW + k' − 1)
// each, k' = ⌈k/s⌉) in which phase (r, t) has ⌈(k − r)/s⌉ × ⌈(k − t)/s⌉ taps.
// - The forward pass (tlc_strided_conv) splits each sample into the direct convolution's padded
//   buffer and sums each phase's own taps (direct.h's tap groups): exactly the layer's
//   multiply-adds, with contiguous loads, the epilogue (batch norm, ReLU) fused.
// - Training runs over the same split with the kernel W'[o][r][t][c][a'][b'] =
//   W[o][c][s·a' + r][s·b' + t] (0 past k), k' × k' taps for every phase, so that the direct
//   weight gradient and transposed convolution apply as they are; the zero taps cost
//   R²·k'² / k² of the real work (1.31 for 7×7 stride 2), which tlc_strided_applies weighs.
//   The split's adjoint (tlc_strided_merge) and the kernel's (tlc_strided_kernel_gradient) only move values.
#include "cdirectconv.h"
#include "direct.h"
#include <string.h>

enum { MAX_STRIDE = 8 };

int tlc_strided_phases(int k, int stride) { return stride < k ? stride : k; }

int tlc_strided_kernel_size(int k, int stride) { return (k + stride - 1) / stride; }

int tlc_strided_applies(int inputs, int k, int stride) {
    // Windows that overlap (k > s). Not k ≤ s, a 1×1 convolution of the split: ResNet-18's
    // 1×1 stride-2 shortcuts measured 1.2–2.1× slower forward and 1.0–2.3× backward that way
    // than on BLAS (Xeon, AVX-512).
    if (stride < 2 || stride > MAX_STRIDE || k <= stride) return 0;
    const long R = tlc_strided_phases(k, stride), kk = tlc_strided_kernel_size(k, stride);
    // Training's split with k' × k' taps for every phase at most 1.5× the real multiply-adds:
    // 7×7 (1.31) and 5×5 (1.44) at stride 2, 11×11 at stride 4 (1.19); or any such waste where
    // BLAS's GEMM would be shallower than 64 (an RGB image's 3×3 stride-2 stem, 27 deep:
    // MobileNetV2's, with its batch norm fused, measured 1.5–1.6× as fast as im2col + BLAS and
    // the batch norm apart). Not 3×3 at stride 2 over 64 channels or more (ResNet's): over the
    // split, 1.78× the multiply-adds, its inference pass measured 1.3–2.2× slower than BLAS,
    // and even with each phase's own taps no faster.
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
        for (int r = 0; r < R; r++)
            for (int t = 0; t < R; t++) {
                int lo, hi;
                column_range(t, stride, pad, W, SW, &lo, &hi);
                for (int c = 0; c < C; c++) {
                    const float *xc = x + (n * C + c) * H * W;
                    float *plane = out + (((n * R + r) * R + t) * C + c) * SH * SW;
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
                    row[w] = r < R && t < R && u < SH && v < SW ? split[((((n * R + r) * R + t) * C + c) * SH + u) * SW + v] : 0;
                }
            }
}

// Where tap (ki, kj) of W[o][c] sits in the training kernel W'[o][r][t][c][a][b].
static inline long split_tap(long o, int c, int ki, int kj, int inputs, int k, int stride) {
    const int R = tlc_strided_phases(k, stride), kk = tlc_strided_kernel_size(k, stride);
    return ((((o * R + ki % stride) * R + kj % stride) * inputs + c) * kk + ki / stride) * kk + kj / stride;
}

void tlc_strided_kernel(const float *w, int outputs, int inputs, int k, int stride, float *out) {
    const long R = tlc_strided_phases(k, stride), kk = tlc_strided_kernel_size(k, stride);
    memset(out, 0, (size_t)(outputs * R * R * inputs * kk * kk) * sizeof(float));   // the taps past k
    for (long o = 0; o < outputs; o++)
        for (int c = 0; c < inputs; c++)
            for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++) out[split_tap(o, c, ki, kj, inputs, k, stride)] = w[((o * inputs + c) * k + ki) * k + kj];
}

void tlc_strided_kernel_gradient(const float *dsplit, int outputs, int inputs, int k, int stride, float *dw) {
    for (long o = 0; o < outputs; o++)
        for (int c = 0; c < inputs; c++)
            for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++) dw[((o * inputs + c) * k + ki) * k + kj] = dsplit[split_tap(o, c, ki, kj, inputs, k, stride)];
}

// Taps of phase r along one axis: the a' with s·a' + r < k.
static int phase_taps(int k, int stride, int r) { return (k - r + stride - 1) / stride; }

int tlc_strided_conv_shape(int outputs, int inputs, int H, int W, int k, int stride, int pad) {
    (void)inputs;
    return direct_tile_shape(outputs, split_side(H, k, stride, pad), split_side(W, k, stride, pad), tlc_strided_kernel_size(k, stride), 0);
}

long tlc_strided_conv_packed_count(int shape, int outputs, int inputs, int k) {
    return direct_blocks(shape, outputs) * direct_rows(shape) * inputs * k * k;
}

// The phases' tap groups over the split's planes and their packed weights, phase after phase.
static int tap_groups(int shape, const float *packed, int outputs, int C, int k, int stride, tap_group *groups) {
    const int R = tlc_strided_phases(k, stride);
    const long perTap = direct_blocks(shape, outputs) * direct_rows(shape) * C;
    long at = 0;
    for (int r = 0; r < R; r++)
        for (int t = 0; t < R; t++) {
            const int p = r * R + t;
            groups[p] = (tap_group){p * C, (p + 1) * C, phase_taps(k, stride, r), phase_taps(k, stride, t), packed + at};
            at += perTap * groups[p].kh * groups[p].kw;
        }
    return R * R;
}

void tlc_strided_conv_pack(int shape, const float *w, int outputs, int inputs, int k, int stride, float *packed) {
    tap_group groups[MAX_STRIDE * MAX_STRIDE];
    const int count = tap_groups(shape, packed, outputs, inputs, k, stride, groups), mr = direct_rows(shape);
    const long blocks = direct_blocks(shape, outputs);
    for (int p = 0; p < count; p++) {
        const int r = p / tlc_strided_phases(k, stride), t = p % tlc_strided_phases(k, stride), kh = groups[p].kh, kw = groups[p].kw;
        const long taps = (long)inputs * kh * kw;
        float *out = (float *)groups[p].packed;
        for (long b = 0; b < blocks; b++)
            for (int c = 0; c < inputs; c++)
                for (int a = 0; a < kh; a++)
                    for (int bb = 0; bb < kw; bb++)
                        for (int rr = 0; rr < mr; rr++) {
                            const long o = b * mr + rr, tap = ((long)c * kh + a) * kw + bb;
                            out[(b * taps + tap) * mr + rr] = o < outputs ? w[((o * inputs + c) * k + stride * a + r) * k + stride * bb + t] : 0;
                        }
    }
}

long tlc_strided_conv_scratch_count(int shape, int outputs, int inputs, int H, int W, int k, int stride, int pad) {
    const int R = tlc_strided_phases(k, stride), kk = tlc_strided_kernel_size(k, stride);
    const geometry g = geometry_of(direct_tile_positions(shape), split_side(H, k, stride, pad), split_side(W, k, stride, pad), kk, 0);
    return padded_count(&g, inputs * R * R, kk) + direct_blocks(shape, outputs) * direct_rows(shape) * g.Qt;
}

void tlc_strided_conv(int level, int shape, const float *x, int samples, int C, int H, int W, const float *packed, const float *bias,
                      int outputs, int k, int stride, int pad, const float *mean, const float *scale, const float *shift, int relu,
                      float ceiling, float *scratch, float *y) {
#if defined(__x86_64__)
    if (level < 1) return;
    const int R = tlc_strided_phases(k, stride), kk = tlc_strided_kernel_size(k, stride);
    const geometry g = geometry_of(direct_tile_positions(shape), split_side(H, k, stride, pad), split_side(W, k, stride, pad), kk, 0);
    const long planes = (long)C * R * R, paddedCount = padded_count(&g, (int)planes, kk);
    float *in = scratch, *wide = scratch + paddedCount;
    tap_group groups[MAX_STRIDE * MAX_STRIDE];
    const int count = tap_groups(shape, packed, outputs, C, k, stride, groups);
    // The slack after the last plane that tiles read past it (into outputs that are dropped).
    memset(in + planes * g.plane, 0, (size_t)(paddedCount - planes * g.plane) * sizeof(float));
    for (long s = 0; s < samples; s++) {
        tlc_strided_split(x + s * C * H * W, 1, C, H, W, k, stride, pad, in);
        direct_positions(level, shape, in, &g, groups, count, outputs, bias, 0, g.Qt, wide);
        direct_finish(wide, &g, outputs, mean, scale, shift, relu, ceiling, y + s * outputs * g.OH * g.OW);
    }
#else
    (void)level; (void)shape; (void)x; (void)samples; (void)C; (void)H; (void)W; (void)packed; (void)bias; (void)outputs; (void)k;
    (void)stride; (void)pad; (void)mean; (void)scale; (void)shift; (void)relu; (void)ceiling; (void)scratch; (void)y;
#endif
}
