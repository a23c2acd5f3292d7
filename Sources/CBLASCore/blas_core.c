// CBLASCore — OpenBLAS's kernels matched to this CPU when OpenBLAS's own detection falls
// short. Debian 12's OpenBLAS 0.3.21 (a DYNAMIC_ARCH build) does not know recent Intel
// Xeons (Sapphire and Emerald Rapids: family 6, models 143 and 207) and falls back to its
// Prescott kernels (SSE3, no FMA): its sgemm then runs several times slower than the
// AVX-512 kernels it carries for them. The usual cure is OPENBLAS_CORETYPE; this does what
// that variable does, once, at load time:
//
// a constructor (run after OpenBLAS's own, which detected the core) compares the
// instruction sets of the core OpenBLAS picked with the CPU's. When the CPU has more
// (AVX-512, or AVX2 with FMA) and the user set no OPENBLAS_CORETYPE, it sets the variable
// to the core OpenBLAS itself picks on CPUs it knows with those instruction sets
// (Cooperlake with AVX-512 BF16, else SkylakeX; Haswell for AVX2), re-runs OpenBLAS's
// selection (gotoblas_dynamic_quit, gotoblas_dynamic_init: exported by every DYNAMIC_ARCH
// build), and removes the variable again, so child processes see the environment as it was.
// Nothing has called OpenBLAS yet at that point, but the worker threads OpenBLAS started at
// load time may still be starting up, and each one's first buffer runs the core selection
// too (if no core is set): they are stopped first (blas_thread_shutdown_ joins them; OpenBLAS
// starts them again when a call wants more than one thread). Without those entry points, or
// without the chosen core's kernels in the library, OpenBLAS's choice stands.
#define _GNU_SOURCE
#include "cblascore.h"
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// Declared by OpenBLAS's cblas.h; repeated so that this file needs no BLAS header.
char *openblas_get_corename(void);

static char detected[32];
static int replaced;

const char *tlc_blas_detected_core(void) { return replaced ? detected : NULL; }

// 2: the core's kernels use AVX-512; 1: AVX2 and FMA; 0: neither (or a core this file does not know).
static int core_tier(const char *name) {
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const avx2[] = {"Haswell", "Zen", "Excavator"};
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++) if (strcasecmp(name, avx512[i]) == 0) return 2;
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++) if (strcasecmp(name, avx2[i]) == 0) return 1;
    return 0;
}

static int cpu_tier(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

__attribute__((constructor)) static void match_blas_core_to_cpu(void) {
    if (getenv("OPENBLAS_CORETYPE") != NULL) return;   // the user's choice
    const char *current = openblas_get_corename();
    if (current == NULL) return;
    const int want = cpu_tier();
    if (want <= core_tier(current)) return;
    const char *core = NULL, *table = NULL;
#if defined(__x86_64__)
    if (want == 2 && __builtin_cpu_supports("avx512bf16")) { core = "Cooperlake"; table = "gotoblas_COOPERLAKE"; }
    else if (want == 2) { core = "SkylakeX"; table = "gotoblas_SKYLAKEX"; }
    else { core = "Haswell"; table = "gotoblas_HASWELL"; }
#endif
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    int (*stop_threads)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    if (core == NULL || quit == NULL || init == NULL || stop_threads == NULL || dlsym(RTLD_DEFAULT, table) == NULL) return;
    strncpy(detected, current, sizeof detected - 1);
    stop_threads();
    setenv("OPENBLAS_CORETYPE", core, 1);
    quit();
    init();
    unsetenv("OPENBLAS_CORETYPE");
    replaced = 1;
}
