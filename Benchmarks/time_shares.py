#!/usr/bin/env python3
"""Where tlc's time goes: buckets a `perf record` profile of tlc's threads by what each
function does and prints one markdown row (shares of the samples of tlc's threads).

Usage: time_shares.py PERF_DATA LABEL [--header] [--other]
Standard library only; needs `perf` on PATH (Benchmarks/where-time-goes.sh records the data).
"""
import re
import subprocess
import sys

# tlc's threads: the test binary's main thread, the Swift task thread that runs the
# benchmark and the engine's part workers (perf keeps 15 characters of a thread's name).
THREADS = ("tlcPackageTests", "oot.default-qos", "tlc-part-")

# (column, test on (dso, symbol)), first match wins.
BUCKETS = [
    ("OpenBLAS sgemm", lambda d, s: "openblas" in d),
    ("direct conv", lambda d, s: re.fullmatch(r"tile_(8x48|8x32|16x16|avx2_\d)|direct_conv|tlc_direct_conv\w*", s)),
    ("Winograd sums", lambda d, s: re.fullmatch(r"gemm_tile[12]_(512|256)|block_gemms(_512|_256)?|grad512_\d+|grad256", s)),
    ("Winograd transforms", lambda d, s: re.fullmatch(r"winograd_\w+|transform_input_call_(512|256)|rows_to_planes|chunk_to_planes|pooled_\w+|pack_block\d?|"
                                                    r"tlc_winograd\w*", s)),
    ("direct dW", lambda d, s: re.fullmatch(r"tile512_4x6|tile256_2x2|weight_grad", s)),
    # CDepthwiseConv (its static functions too); other groupings: GroupedConv2D's Swift loops.
    ("grouped conv", lambda d, s: "GroupedConv2D" in s or "depthwise" in s
                                  or re.fullmatch(r"(forward|backward)_(avx512|avx2|plain|body)|split_phases|join_phases|widen", s)),
    ("dense kernel", lambda d, s: re.fullmatch(r"dense(256|512)|tlc_dense\w*", s)),
    # Conv2D's own Swift code: im2col, col2im, masks and the copies around BLAS; the strided split (CDirectConv).
    ("lowering copies", lambda d, s: re.search(r"memmove|memcpy|im2col|col2im|shiftColumns|flippedTransposed|kernelRows|"
                                                r"gatherChunk|scatter|transpose|padded|Conv2D|tlc_strided_", s, re.I)),
    ("batch norm", lambda d, s: re.search(r"BatchNorm|tlc_batchnorm", s)),
    ("pooling", lambda d, s: re.search(r"Pool2D|Pooling|GlobalAverage|AdaptiveAvg|max_pool", s)),
    ("activations", lambda d, s: re.search(r"rectify|maskByPositive|ReLU|Activation|SiLU|Sigmoid|Hardswish", s)),
    ("optimizer", lambda d, s: re.search(r"Adam|SGDRule|Optimizer|WeightDecay", s)),
    ("other elementwise", lambda d, s: re.search(r"Residual|Elementwise|Softmax|CrossEntropy|Dropout|ChannelAffine|"
                                                  r"memset|addInPartOrder|sumBias|laneSum|Flatten|Concat", s)),
    ("page faults, allocation", lambda d, s: re.search(r"page|folio|clear_|_mm_|mmap|munmap|malloc|free|brk|"
                                                        r"lru|pte|pmd|memcg|zone|rmqueue|charge", s)),
    ("threads waiting", lambda d, s: re.search(r"sched|yield|futex|PartPool|wake|idle|syscall|switch_|entry_|"
                                                r"try_to_wake|finish_task|pick_next|dequeue|enqueue", s)),
]
COLUMNS = [name for name, _ in BUCKETS] + ["other"]


def rows(data):
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "comm,dso,sym",
                          "-g", "none", "--percentage", "absolute"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(\S+)\s+\[[.k]\]\s+(.*)$", line)
        if m:
            yield float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()


def main():
    data, label = sys.argv[1], sys.argv[2]
    shares = {c: 0.0 for c in COLUMNS}
    total = 0.0
    others = []
    for pct, comm, dso, sym in rows(data):
        if not comm.startswith(THREADS):
            continue
        total += pct
        for name, test in BUCKETS:
            if test(dso, sym):
                shares[name] += pct
                break
        else:
            shares["other"] += pct
            others.append((pct, sym))
    if "--header" in sys.argv:
        print("| model | " + " | ".join(COLUMNS) + " |")
        print("| --- |" + " --- |" * len(COLUMNS))
    cells = ["%.0f %%" % (100 * shares[c] / total) if total else "–" for c in COLUMNS]
    print("| %s | %s |" % (label, " | ".join(cells)))
    if "--other" in sys.argv:   # what "other" holds, largest first
        for pct, sym in sorted(others, reverse=True)[:15]:
            print("  %.2f %%  %s" % (100 * pct / total, sym[:120]))


if __name__ == "__main__":
    main()
