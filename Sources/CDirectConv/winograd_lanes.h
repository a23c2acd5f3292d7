// CDirectConv's Winograd kernels for one vector width (private to winograd.c, which includes
// this file once for AVX-512 and once for AVX2 after defining the WL_ macros below): the
// F(2×2, 3×3) and F(4×4, 3×3) convolutions, and their input transforms for the weight
// gradient.
// Channels are the vectors' lanes: the input transform reads a tile's 6×6 (4×4) window of a
// sample stored channels-last ([row][column][channel]), the sums broadcast one tile's
// transformed input and multiply it by vectors of output channels, and the output transform
// works on vectors of output channels too. Every lane runs the same adds, subtracts and
// fused multiply-adds in the same order whatever the width, so both instantiations give the
// same bits.
//
// Expected definitions: WL_TARGET (the target attribute's string), WL_VEC, WL_LANES, WL_NT
// (tiles per register tile; 12 divides it), WL_NAME(x) (a suffixed name), WL_LOAD, WL_STORE,
// WL_ADD, WL_SUB, WL_MUL, WL_SET1, WL_ZERO, WL_FMA (a·b + c), and the epilogue's selects:
// WL_ZERO_IF_NEGATIVE(v) (v < 0 ? 0 : v), WL_ZERO_IF_NOT_POSITIVE(v) (0 >= v ? 0 : v) and
// WL_CLAMP(v, c) (c < v ? c : v).

// F(2×2, 3×3)'s V[ξ][t][c] (16 planes xi_stride apart) for the block's tiles in order (t = 0 … used − 1, by segment; zero up to `rounded`).
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(transform_input2)(const wgeometry *g, int Cp, float *const *samples, const segment *segs, int nsegs, long used, long rounded,
                              float *V) {
    const long PW = g->PW, xstride = xi_stride(g->TB * Cp), row = PW * Cp;
    for (int k = 0; k < nsegs; k++) {
        const segment sg = segs[k];
        const float *X = samples[sg.s % g->slots];
        for (int tj = sg.tj0; tj < sg.tj1; tj++) {
            const float *base = X + ((long)(2 * sg.ti) * PW + 2L * tj) * Cp;
            float *out = V + (sg.at + tj - sg.tj0) * Cp;
            for (int c = 0; c < Cp; c += WL_LANES) {
                WL_VEC u[4][4];
                for (int r = 0; r < 4; r++) {
                    const float *p = base + r * row + c;
                    const WL_VEC a0 = WL_LOAD(p), a1 = WL_LOAD(p + Cp), a2 = WL_LOAD(p + 2 * Cp), a3 = WL_LOAD(p + 3 * Cp);
                    u[r][0] = WL_SUB(a0, a2); u[r][1] = WL_ADD(a1, a2);
                    u[r][2] = WL_SUB(a2, a1); u[r][3] = WL_SUB(a1, a3);
                }
                for (int q = 0; q < 4; q++) {
                    WL_STORE(out + (0 * 4 + q) * xstride + c, WL_SUB(u[0][q], u[2][q]));
                    WL_STORE(out + (1 * 4 + q) * xstride + c, WL_ADD(u[1][q], u[2][q]));
                    WL_STORE(out + (2 * 4 + q) * xstride + c, WL_SUB(u[2][q], u[1][q]));
                    WL_STORE(out + (3 * 4 + q) * xstride + c, WL_SUB(u[1][q], u[3][q]));
                }
            }
        }
    }
    for (int x = 0; x < 16; x++) memset(V + x * xstride + used * Cp, 0, (size_t)((rounded - used) * Cp) * sizeof(float));
}

// Bᵀ d for F(4×4, 3×3) along one axis of six values (Lavin and Gray's points 0, ±1, ±2):
// 4d₀ − 5d₂ + d₄, (d₃ + d₄) − 4(d₁ + d₂), (d₄ − d₃) + 4(d₁ − d₂), (d₄ − d₂) ± 2(d₃ − d₁),
// 4d₁ − 5d₃ + d₅, each in this order (fused multiply-adds on every width).
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(input_axis)(const WL_VEC d[6], WL_VEC t[6]) {
    const WL_VEC four = WL_SET1(4.0f), minusFour = WL_SET1(-4.0f), minusFive = WL_SET1(-5.0f);
    const WL_VEC two = WL_SET1(2.0f), minusTwo = WL_SET1(-2.0f);
    t[0] = WL_FMA(minusFive, d[2], WL_FMA(four, d[0], d[4]));
    t[1] = WL_FMA(minusFour, WL_ADD(d[1], d[2]), WL_ADD(d[3], d[4]));
    t[2] = WL_FMA(four, WL_SUB(d[1], d[2]), WL_SUB(d[4], d[3]));
    const WL_VEC odd = WL_SUB(d[3], d[1]), even = WL_SUB(d[4], d[2]);
    t[3] = WL_FMA(two, odd, even);
    t[4] = WL_FMA(minusTwo, odd, even);
    t[5] = WL_FMA(minusFive, d[3], WL_FMA(four, d[1], d[5]));
}

// F(4×4, 3×3)'s V[ξ][t][c] (36 planes xi_stride apart) for the block's
// tiles in order (t = 0 … used − 1, by segment; zero up to `rounded`): each tile's 6×6
// window along its rows, then its columns.
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(transform_input4)(const wgeometry *g, int Cp, float *const *samples, const segment *segs, int nsegs, long used, long rounded,
                               float *V) {
    const long xstride = xi_stride(g->TB * Cp), row = (long)g->PW * Cp;
    for (int k = 0; k < nsegs; k++) {
        const segment sg = segs[k];
        const float *X = samples[sg.s % g->slots];
        for (int tj = sg.tj0; tj < sg.tj1; tj++) {
            const float *base = X + ((long)(4 * sg.ti) * g->PW + 4L * tj) * Cp;
            float *out = V + (sg.at + tj - sg.tj0) * Cp;
            for (int c = 0; c < Cp; c += WL_LANES) {
                WL_VEC t[6][6];
                for (int r = 0; r < 6; r++) {
                    WL_VEC d[6];
                    for (int q = 0; q < 6; q++) d[q] = WL_LOAD(base + r * row + q * Cp + c);
                    WL_NAME(input_axis)(d, t[r]);
                }
                for (int q = 0; q < 6; q++) {
                    WL_VEC d[6], v[6];
                    for (int r = 0; r < 6; r++) d[r] = t[r][q];
                    WL_NAME(input_axis)(d, v);
                    for (int i = 0; i < 6; i++) WL_STORE(out + (i * 6 + q) * xstride + c, v[i]);
                }
            }
        }
    }
    for (int x = 0; x < 36; x++) memset(V + x * xstride + used * Cp, 0, (size_t)((rounded - used) * Cp) * sizeof(float));
}

// V of a block's `used` tiles in g's tiles of g->m as a function of its own, for the weight gradient
// (winograd_transform_input).
__attribute__((target(WL_TARGET), noinline))
static void WL_NAME(transform_input_call)(const wgeometry *g, int Cp, float *const *samples, const segment *segs, int nsegs, long used,
                                          float *V) {
    if (g->m == 4) WL_NAME(transform_input4)(g, Cp, samples, segs, nsegs, used, used, V);
    else WL_NAME(transform_input2)(g, Cp, samples, segs, nsegs, used, used, V);
}

#define WL_UNROLLED _Pragma("clang loop unroll(full)")
// M[t][o] for WL_NT tiles × NV vectors of output channels: over channels c0 … c1 − 1 of V
// (v[t][c], rows Cp apart) and U (u[c][o], rows `us` apart), one fused multiply-add chain per
// output, into M's rows (Op apart); the first channel block stores, later ones add their sum.
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(gemm_tile)(const int NV, const float *u, long us, long Op, const float *v, long Cp, int c0, int c1, float *m) {
    WL_VEC acc[WL_NT][2];
    WL_UNROLLED for (int k = 0; k < WL_NT; k++) WL_UNROLLED for (int x = 0; x < NV; x++) acc[k][x] = WL_ZERO();
    for (int c = c0; c < c1; c++) {
        WL_VEC uu[2];
        WL_UNROLLED for (int x = 0; x < NV; x++) uu[x] = WL_LOAD(u + (long)c * us + x * WL_LANES);
        WL_UNROLLED for (int k = 0; k < WL_NT; k++) {
            const WL_VEC b = WL_SET1(v[k * Cp + c]);
            WL_UNROLLED for (int x = 0; x < NV; x++) acc[k][x] = WL_FMA(b, uu[x], acc[k][x]);
        }
    }
    WL_UNROLLED for (int k = 0; k < WL_NT; k++) WL_UNROLLED for (int x = 0; x < NV; x++) {
        float *dst = m + k * Op + x * WL_LANES;
        WL_STORE(dst, c0 == 0 ? acc[k][x] : WL_ADD(WL_LOAD(dst), acc[k][x]));
    }
}

__attribute__((target(WL_TARGET), noinline))
static void WL_NAME(gemm_tile2)(const float *u, long us, long Op, const float *v, long Cp, int c0, int c1, float *m) {
    WL_NAME(gemm_tile)(2, u, us, Op, v, Cp, c0, c1, m);
}
__attribute__((target(WL_TARGET), noinline))
static void WL_NAME(gemm_tile1)(const float *u, long us, long Op, const float *v, long Cp, int c0, int c1, float *m) {
    WL_NAME(gemm_tile)(1, u, us, Op, v, Cp, c0, c1, m);
}

// The (m + 2)² sums of a block's first `rounded` tiles: M[ξ][t][o] = Σ_c V[ξ][t][c] U[ξ][c][o], U
// in blocks of 32 output channels (see tlc_winograd_pack).
// Not inlined, so that profiles tell the sums from the transforms (Benchmarks/time_shares.py).
__attribute__((target(WL_TARGET), noinline))
static void WL_NAME(block_gemms)(const wgeometry *g, int C, int Cp, const float *packed, const float *V, long rounded, float *M) {
    const long Op = g->Opad, ux = (long)C * Op, vx = xi_stride(g->TB * Cp), mx = xi_stride(g->TB * Op);
    // Output channels outer: each block of U (C × 32 floats, contiguous) is read for every
    // group of tiles while it is in cache; V's slice (tiles × channels) stays in L2. (Tiles
    // outer, with U's rows Op apart, read a 512-channel layer's 1 MB slice of U once per
    // group of tiles: 1.3× slower at 7² than the previous layout.)
    const int planes = (g->m + 2) * (g->m + 2);
    for (int x = 0; x < planes; x++)
        for (long o0 = 0; o0 < Op;) {
            const long ob = o0 / 32, us = Op - 32 * ob < 32 ? Op - 32 * ob : 32;
            const int wide = 2 * WL_LANES == 32 ? us == 32 : 1;
            const float *u = packed + x * ux + ob * 32 * C + (o0 - 32 * ob);
            for (long t0 = 0; t0 < rounded; t0 += WL_NT)
                for (int c0 = 0; c0 < C; c0 += CHANNEL_BLOCK) {
                    const int c1 = c0 + CHANNEL_BLOCK < C ? c0 + CHANNEL_BLOCK : C;
                    const float *v = V + x * vx + t0 * Cp;
                    float *m = M + x * mx + t0 * Op + o0;
                    if (wide) WL_NAME(gemm_tile2)(u, us, Op, v, Cp, c0, c1, m);
                    else WL_NAME(gemm_tile1)(u, us, Op, v, Cp, c0, c1, m);
                }
            o0 += wide ? 2 * WL_LANES : WL_LANES;
        }
}

// The batch norm and ReLU of one vector of outputs, as finish_row rounds and selects them.
static inline __attribute__((always_inline, target(WL_TARGET)))
WL_VEC WL_NAME(finish)(WL_VEC v, const epilogue *e, long o) {
    if (e->mean) v = WL_ADD(WL_MUL(WL_SUB(v, WL_LOAD(e->mean + o)), WL_LOAD(e->scale + o)), WL_LOAD(e->shift + o));
    if (e->relu) {
        if (e->ceiling < INFINITY) v = WL_CLAMP(WL_ZERO_IF_NOT_POSITIVE(v), WL_SET1(e->ceiling));
        else v = WL_ZERO_IF_NEGATIVE(v);
    }
    return v;
}

// Aᵀ m for F(4×4, 3×3) along one axis of six values: m₀ + (m₁ + m₂) + (m₃ + m₄),
// (m₁ − m₂) + 2(m₃ − m₄), (m₁ + m₂) + 4(m₃ + m₄), ((m₁ − m₂) + 8(m₃ − m₄)) + m₅.
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(output_axis)(const WL_VEC m[6], WL_VEC y[4]) {
    const WL_VEC sum12 = WL_ADD(m[1], m[2]), dif12 = WL_SUB(m[1], m[2]);
    const WL_VEC sum34 = WL_ADD(m[3], m[4]), dif34 = WL_SUB(m[3], m[4]);
    y[0] = WL_ADD(WL_ADD(m[0], sum12), sum34);
    y[1] = WL_FMA(WL_SET1(2.0f), dif34, dif12);
    y[2] = WL_FMA(WL_SET1(4.0f), sum34, sum12);
    y[3] = WL_ADD(WL_FMA(WL_SET1(8.0f), dif34, dif12), m[5]);
}

// One tile's outputs o … o + WL_LANES − 1 of F(2×2, 3×3), Y = Aᵀ M A (M's planes ξ = 4i + q
// mx apart), then the bias (one addition after the transform: +0 without one, so a −0
// becomes +0), batch norm and ReLU: y[2i + q] is output (i, q).
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(tile_values2)(const float *m, long mx, long o, const epilogue *e, WL_VEC y[4]) {
    WL_VEC w0[4], w1[4];
    for (int q = 0; q < 4; q++) {
        const WL_VEC m0 = WL_LOAD(m + (0 * 4 + q) * mx + o), m1 = WL_LOAD(m + (1 * 4 + q) * mx + o);
        const WL_VEC m2 = WL_LOAD(m + (2 * 4 + q) * mx + o), m3 = WL_LOAD(m + (3 * 4 + q) * mx + o);
        w0[q] = WL_ADD(WL_ADD(m0, m1), m2);
        w1[q] = WL_SUB(WL_SUB(m1, m2), m3);
    }
    const WL_VEC bv = WL_LOAD(e->bias + o);
    y[0] = WL_NAME(finish)(WL_ADD(WL_ADD(WL_ADD(w0[0], w0[1]), w0[2]), bv), e, o);
    y[1] = WL_NAME(finish)(WL_ADD(WL_SUB(WL_SUB(w0[1], w0[2]), w0[3]), bv), e, o);
    y[2] = WL_NAME(finish)(WL_ADD(WL_ADD(WL_ADD(w1[0], w1[1]), w1[2]), bv), e, o);
    y[3] = WL_NAME(finish)(WL_ADD(WL_SUB(WL_SUB(w1[1], w1[2]), w1[3]), bv), e, o);
}

// tile_values2 into rows r + i·rowsStride + q·CHUNK_CHANNELS.
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(tile_output2)(const float *m, long mx, long o, const epilogue *e, float *r, long rowsStride) {
    WL_VEC y[4];
    WL_NAME(tile_values2)(m, mx, o, e, y);
    WL_STORE(r, y[0]);
    WL_STORE(r + CHUNK_CHANNELS, y[1]);
    WL_STORE(r + rowsStride, y[2]);
    WL_STORE(r + rowsStride + CHUNK_CHANNELS, y[3]);
}

// A 2×2 window's outputs v00, v01, v10, v11 max-pooled: the larger in that order (a later one only
// when greater, as tlc_max_pool takes them) into r, its index (`corner` is v00's in its plane of
// `width` columns) into ri.
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(pool_window)(WL_VEC v00, WL_VEC v01, WL_VEC v10, WL_VEC v11, int corner, int width, float *r, float *ri) {
    const WL_VEC v[4] = {v00, v01, v10, v11};
    const int offsets[4] = {0, 1, width, width + 1};
    WL_VEC best = v[0], index = WL_SET1_BITS(corner);
    for (int k = 1; k < 4; k++) {
        index = WL_IF_GREATER(v[k], best, WL_SET1_BITS(corner + offsets[k]), index);
        best = WL_IF_GREATER(v[k], best, v[k], best);
    }
    WL_STORE(r, best);
    WL_STORE(ri, index);
}

// tile_values2 max-pooled: the tile is the window (`at` is output (0, 0)'s index in its plane).
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(tile_output2_pooled)(const float *m, long mx, long o, const epilogue *e, int at, int width, float *r, float *ri) {
    WL_VEC v[4];
    WL_NAME(tile_values2)(m, mx, o, e, v);
    WL_NAME(pool_window)(v[0], v[1], v[2], v[3], at, width, r, ri);
}

// One tile's outputs o … o + WL_LANES − 1 of F(4×4, 3×3) (M's planes ξ = 6i + q): along M's
// columns, then its rows; then the bias, batch norm and ReLU as tile_values2: y[4i + q] is output (i, q).
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(tile_values4)(const float *m, long mx, long o, const epilogue *e, WL_VEC y[16]) {
    WL_VEC w[4][6];
    for (int q = 0; q < 6; q++) {
        WL_VEC column[6], out[4];
        for (int i = 0; i < 6; i++) column[i] = WL_LOAD(m + (i * 6 + q) * mx + o);
        WL_NAME(output_axis)(column, out);
        for (int i = 0; i < 4; i++) w[i][q] = out[i];
    }
    const WL_VEC bv = WL_LOAD(e->bias + o);
    for (int i = 0; i < 4; i++) {
        WL_VEC out[4];
        WL_NAME(output_axis)(w[i], out);
        for (int q = 0; q < 4; q++) y[4 * i + q] = WL_NAME(finish)(WL_ADD(out[q], bv), e, o);
    }
}

// tile_values4 into rows r + i·rowsStride + q·CHUNK_CHANNELS.
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(tile_output4)(const float *m, long mx, long o, const epilogue *e, float *r, long rowsStride) {
    WL_VEC y[16];
    WL_NAME(tile_values4)(m, mx, o, e, y);
    for (int i = 0; i < 4; i++)
        for (int q = 0; q < 4; q++) WL_STORE(r + i * rowsStride + q * CHUNK_CHANNELS, y[4 * i + q]);
}

// The same, max-pooled in its four 2×2 windows: window (a, b)'s value into r + a·rowsStride +
// b·CHUNK_CHANNELS, its winner's index (`at` is output (0, 0)'s in its plane) into ri at the same offsets.
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(tile_output4_pooled)(const float *m, long mx, long o, const epilogue *e, int at, int width, float *r, float *ri,
                                  long rowsStride) {
    WL_VEC v[16];
    WL_NAME(tile_values4)(m, mx, o, e, v);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            const int i = 8 * a + 2 * b;   // output (2a, 2b)
            const long offset = a * rowsStride + b * CHUNK_CHANNELS;
            WL_NAME(pool_window)(v[i], v[i + 1], v[i + 4], v[i + 5], at + 2 * a * width + 2 * b, width, r + offset, ri + offset);
        }
}

// Y for every tile of the block and output channel, channels-last into `rows`, then into y
// (NCHW): a segment in chunks of CHUNK_COLUMNS output columns × CHUNK_CHANNELS output channels.
static inline __attribute__((always_inline, target(WL_TARGET)))
void WL_NAME(transform_output)(const wgeometry *g, int O, const float *M, const segment *segs, int nsegs, const epilogue *e,
                               float *rows, float *y) {
    const int mt = g->m, per = CHUNK_COLUMNS / mt;
    const long Op = g->Opad, mx = xi_stride(g->TB * Op), rowsStride = (long)CHUNK_COLUMNS * CHUNK_CHANNELS;
    for (int k = 0; k < nsegs; k++) {
        const segment sg = segs[k];
        for (int j0 = 0; j0 < sg.tj1 - sg.tj0; j0 += per) {
            const int j1 = j0 + per < sg.tj1 - sg.tj0 ? j0 + per : sg.tj1 - sg.tj0;
            const int c0 = mt * (sg.tj0 + j0), c1 = mt * (sg.tj0 + j1) < g->OW ? mt * (sg.tj0 + j1) : g->OW;
            for (long o0 = 0; o0 < Op; o0 += CHUNK_CHANNELS) {
                const long o1 = o0 + CHUNK_CHANNELS < Op ? o0 + CHUNK_CHANNELS : Op;
                if (e->argmax) {
                    // Pooled values (m / 2 per tile and row) in rows 0 … m / 2 − 1 of `rows`, their indices in the next m / 2.
                    const int half = mt / 2;
                    for (int j = j0; j < j1; j++) {
                        const float *m = M + (sg.at + j) * Op;
                        float *r = rows + (long)half * (j - j0) * CHUNK_CHANNELS;
                        const int at = mt * sg.ti * g->OW + mt * (sg.tj0 + j);
                        if (mt == 4)
                            for (long o = o0; o < o1; o += WL_LANES)
                                WL_NAME(tile_output4_pooled)(m, mx, o, e, at, g->OW, r + (o - o0), r + 2 * rowsStride + (o - o0), rowsStride);
                        else
                            for (long o = o0; o < o1; o += WL_LANES)
                                WL_NAME(tile_output2_pooled)(m, mx, o, e, at, g->OW, r + (o - o0), r + rowsStride + (o - o0));
                    }
                    pooled_rows_to_planes(g, O, rows, sg.s, sg.ti, half * (sg.tj0 + j0), half * (sg.tj0 + j1), (int)o0, (int)o1, y,
                                          e->argmax);
                    continue;
                }
                for (int j = j0; j < j1; j++) {
                    const float *m = M + (sg.at + j) * Op;
                    float *r = rows + (long)mt * (j - j0) * CHUNK_CHANNELS;   // column mt·(j − j0), channel o0
                    if (mt == 4) for (long o = o0; o < o1; o += WL_LANES) WL_NAME(tile_output4)(m, mx, o, e, r + (o - o0), rowsStride);
                    else for (long o = o0; o < o1; o += WL_LANES) WL_NAME(tile_output2)(m, mx, o, e, r + (o - o0), rowsStride);
                }
                rows_to_planes(g, O, rows, sg.s, sg.ti, c0, c1 - c0, (int)o0, (int)o1, y);
            }
        }
    }
}
#undef WL_UNROLLED

// One block of tiles after another: copy the samples it touches channels-last, V, the (m + 2)² sums, Y.
__attribute__((target(WL_TARGET), noinline))
static void WL_NAME(winograd_blocks)(const blocks_call *k) {
    const wgeometry *g = k->g;
    const long total = k->tEnd;
    for (long t0 = k->tBegin; t0 < total; t0 += g->TB) {
        const long t1 = t0 + g->TB < total ? t0 + g->TB : total, used = t1 - t0;
        const long rounded = round_up(used, TILE_GROUP) < g->TB ? round_up(used, TILE_GROUP) : g->TB;
        const int nsegs = segments_of(g, t0, t1, k->segs);
        winograd_load_samples(g, k->segs, nsegs, k->x, k->mask, k->C, k->Cp, k->H, k->W, k->pad, k->slots, k->loaded);
        if (g->m == 4) WL_NAME(transform_input4)(g, k->Cp, k->slots, k->segs, nsegs, used, rounded, k->V);
        else WL_NAME(transform_input2)(g, k->Cp, k->slots, k->segs, nsegs, used, rounded, k->V);
        WL_NAME(block_gemms)(g, k->C, k->Cp, k->packed, k->V, rounded, k->M);
        WL_NAME(transform_output)(g, k->outputs, k->M, k->segs, nsegs, k->e, k->rows, k->y);
    }
}
