// CPooling's max pooling (see cpooling.h for the contract). Per output row, the columns
// whose windows lie wholly inside the input run as one loop per tap over the row's outputs
// (best and index kept in the output row itself, in L1): the compiler vectorizes it, with
// the strided reads of stride 2 as interleaved loads. The columns at the edges, whose
// windows are clipped, run one output at a time. Both compare taps in the same order.
#include "cpooling.h"

static inline void one_output(const float *xs, int h, int w, int size, int stride, int pad, int i, int j,
                              float *out, int *index) {
    const int r0 = i * stride - pad, c0 = j * stride - pad;
    const int aLo = r0 < 0 ? -r0 : 0, aHi = h - r0 < size ? h - r0 : size;
    const int bLo = c0 < 0 ? -c0 : 0, bHi = w - c0 < size ? w - c0 : size;
    float best = 0;
    int bi = -1;
    for (int a = aLo; a < aHi; a++)
        for (int b = bLo; b < bHi; b++) {
            const int at = (r0 + a) * w + c0 + b;
            const float v = xs[at];
            if (bi < 0 || v > best) { best = v; bi = at; }
        }
    *out = bi < 0 ? 0 : best;
    if (index) *index = bi < 0 ? 0 : bi;
}

void tlc_max_pool(const float *x, long planes, int h, int w, int oh, int ow, int size, int stride, int pad,
                  float *y, int *argmax) {
    // Columns j whose windows need no clipping: j·stride − pad ≥ 0 and j·stride − pad + size ≤ w.
    int jlo = (pad + stride - 1) / stride, jhi = w - size + pad >= 0 ? (w - size + pad) / stride + 1 : 0;
    if (jhi > ow) jhi = ow;
    if (jlo > jhi) jlo = jhi;
    for (long p = 0; p < planes; p++) {
        const float *xs = x + p * (long)h * w;
        float *ys = y + p * (long)oh * ow;
        int *as = argmax ? argmax + p * (long)oh * ow : 0;
        for (int i = 0; i < oh; i++) {
            float *yr = ys + (long)i * ow;
            int *ar = as ? as + (long)i * ow : 0;
            for (int j = 0; j < jlo; j++) one_output(xs, h, w, size, stride, pad, i, j, yr + j, ar ? ar + j : 0);
            for (int j = jhi; j < ow; j++) one_output(xs, h, w, size, stride, pad, i, j, yr + j, ar ? ar + j : 0);
            const int r0 = i * stride - pad;
            const int aLo = r0 < 0 ? -r0 : 0, aHi = h - r0 < size ? h - r0 : size;
            if (jlo >= jhi) continue;
            if (aLo >= aHi) {   // no input row in the window (ceil mode's last row only)
                for (int j = jlo; j < jhi; j++) { yr[j] = 0; if (ar) ar[j] = 0; }
                continue;
            }
            int first = 1;
            for (int a = aLo; a < aHi; a++)
                for (int b = 0; b < size; b++) {
                    // Tap (a, b) of output j reads column j·stride − pad + b of row r0 + a.
                    const int rowAt = (r0 + a) * w + b - pad;
                    const float *src = xs + rowAt;
                    if (first) {
                        for (int j = jlo; j < jhi; j++) yr[j] = src[j * stride];
                        if (ar) for (int j = jlo; j < jhi; j++) ar[j] = rowAt + j * stride;
                        first = 0;
                    } else if (ar) {
                        for (int j = jlo; j < jhi; j++) {
                            const float v = src[j * stride];
                            const int take = v > yr[j];
                            yr[j] = take ? v : yr[j];
                            ar[j] = take ? rowAt + j * stride : ar[j];
                        }
                    } else {
                        for (int j = jlo; j < jhi; j++) {
                            const float v = src[j * stride];
                            yr[j] = v > yr[j] ? v : yr[j];
                        }
                    }
                }
        }
    }
}
