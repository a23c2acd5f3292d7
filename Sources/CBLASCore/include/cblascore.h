// CBLASCore — OpenBLAS's kernels matched to this CPU when OpenBLAS's own detection falls
// short (see blas_core.c): what was detected and what tlc chose instead, for env.json.
#ifndef TLC_CBLASCORE_H
#define TLC_CBLASCORE_H

/// The core OpenBLAS detected when tlc replaced it (e.g. "Prescott"), or NULL when tlc kept
/// OpenBLAS's choice (or OPENBLAS_CORETYPE chose).
const char *tlc_blas_detected_core(void);
#endif
