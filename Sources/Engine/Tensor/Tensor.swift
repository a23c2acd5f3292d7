// Tensor — a dense, contiguous Float32 array with a shape (NCHW for images).
// Storage is a manually managed buffer owned by a final class: no copy-on-write and
// no per-element allocation, so hot loops can work on raw pointers.

import CBLAS
import Foundation

/// A dense Float32 tensor with contiguous row-major storage.
///
/// `Tensor` is a reference type: layers and optimizers update values in place.
/// Use ``copy()`` for an independent tensor.
public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    /// The extents of each dimension, outermost first (NCHW for image batches).
    public private(set) var shape: [Int]
    /// The number of elements (product of `shape`).
    public let count: Int
    /// The element storage; valid for the tensor's lifetime.
    public let storage: UnsafeMutableBufferPointer<Float>

    /// A zero-filled tensor of the given shape.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative tensor extent in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        (self.allocation, self.storage) = AlignedFloats.allocate(max(count, 1))
        self.owner = nil
        storage.initialize(repeating: 0)
    }

    /// A tensor whose contents are undefined; for outputs that are fully overwritten.
    init(uninitialized shape: [Int]) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        (self.allocation, self.storage) = AlignedFloats.allocate(max(count, 1))
        self.owner = nil
    }

    /// A tensor of the given shape filled with `value`.
    public convenience init(shape: [Int], repeating value: Float) {
        self.init(zeros: shape)
        if value != 0 { storage.update(repeating: value) }
    }

    /// A tensor with the given shape and values; throws if the counts differ.
    public convenience init(shape: [Int], values: [Float]) throws {
        let n = shape.reduce(1, *)
        guard n == values.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw EngineError.invalidArgument("tensor of shape \(shape) needs \(n) values, got \(values.count)")
        }
        self.init(zeros: shape)
        _ = values.withUnsafeBufferPointer { src in
            memcpy(storage.baseAddress!, src.baseAddress!, n * MemoryLayout<Float>.stride)
        }
    }

    /// The tensor whose storage this one views (``init(viewing:shape:)``); nil when it owns its own.
    private let owner: Tensor?
    /// What malloc returned for `storage` (nil for a view).
    private let allocation: UnsafeMutableRawPointer?

    /// The same elements under another shape, without a copy: the view keeps `other`
    /// alive and writes through to it. For inference passes that only reshape (Flatten).
    init(viewing other: Tensor, shape: [Int]) {
        precondition(shape.reduce(1, *) == other.count, "view of \(other.shape) as \(shape)")
        self.shape = shape
        self.count = other.count
        self.storage = other.storage
        self.owner = other
        self.allocation = nil
    }

    deinit { if let allocation { AlignedFloats.release(allocation, count: storage.count) } }

    /// Pointer to the first element.
    @inlinable public var pointer: UnsafeMutablePointer<Float> { storage.baseAddress! }

    /// The values as an array (a copy).
    public var values: [Float] { Array(UnsafeBufferPointer(start: storage.baseAddress, count: count)) }

    /// Element access by flat index.
    @inlinable public subscript(i: Int) -> Float {
        get { storage[i] }
        set { storage[i] = newValue }
    }

    /// An independent copy.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.copyValues(from: self)
        return t
    }

    /// Copies the values of a tensor with the same number of elements.
    public func copyValues(from other: Tensor) {
        precondition(other.count == count, "copyValues: \(other.shape) into \(shape)")
        memcpy(pointer, other.pointer, count * MemoryLayout<Float>.stride)
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { storage.update(repeating: value) }

    /// Changes the shape in place; the element count must stay the same.
    public func reshape(_ newShape: [Int]) throws {
        guard newShape.reduce(1, *) == count else {
            throw EngineError.invalidArgument("cannot reshape \(shape) (\(count) elements) to \(newShape)")
        }
        shape = newShape
    }

    /// Sum of squares of all elements (accumulated in Double).
    public func sumOfSquares() -> Double {
        var s = 0.0
        for i in 0..<count { let v = Double(storage[i]); s += v * v }
        return s
    }

    /// The batch size (first extent).
    public var batch: Int { shape.first ?? 0 }
    /// Elements per sample (product of the extents after the first).
    public var sampleCount: Int { shape.count > 1 ? shape.dropFirst().reduce(1, *) : 1 }

    public var description: String {
        let head = values.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 8 ? ", …" : "")])"
    }

    /// Throws a shape error naming `layer` unless the tensor has `rank` dimensions.
    public func expectRank(_ rank: Int, layer: String) throws {
        guard shape.count == rank else {
            throw EngineError.shapeMismatch(layer: layer, message: "expected a rank-\(rank) input, got shape \(shape)")
        }
    }

    /// The shape viewed as NCHW: rank-2 `[N, F]` is `[N, F, 1, 1]`, rank-4 is itself.
    public func nchw(layer: String) throws -> (n: Int, c: Int, h: Int, w: Int) {
        switch shape.count {
        case 4: return (shape[0], shape[1], shape[2], shape[3])
        case 2: return (shape[0], shape[1], 1, 1)
        default:
            throw EngineError.shapeMismatch(layer: layer, message: "expected an [N, C, H, W] or [N, F] input, got shape \(shape)")
        }
    }
}

/// Thin wrapper over `cblas_sgemm` for row-major matrices:
/// C = alpha * op(A) * op(B) + beta * C with op(A) m×k, op(B) k×n.
@inline(__always)
func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
          alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
          b: UnsafePointer<Float>, ldb: Int,
          beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Sets the number of threads OpenBLAS uses (a process-wide setting). Note that the
/// engine's kernels run OpenBLAS single-threaded inside their own workers and reset
/// this to 1; use ``Parallel/threads`` to choose the engine's parallelism.
public func setBLASThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
/// The number of threads OpenBLAS uses.
public func blasThreads() -> Int { Int(openblas_get_num_threads()) }

/// Float storage that starts on a cache line (64 bytes). malloc's own 16-byte alignment
/// makes every 512-bit load of a row split two cache lines: the dense kernel ran 26 %
/// slower on such rows. Plain malloc with 64 bytes of room, not posix_memalign: its
/// split-off remainders fragmented the heap (resnet50's fine-tuning peak RSS +13 %).
/// Blocks of 32 MiB and more (which glibc maps afresh every time anyway) come from
/// ``HugeBlocks``: 2 MiB-aligned huge pages, kept for reuse when freed.
enum AlignedFloats {
    static let hugeBlockBytes = 32 << 20

    /// The block to release and the aligned floats inside it.
    static func allocate(_ count: Int) -> (UnsafeMutableRawPointer, UnsafeMutableBufferPointer<Float>) {
        let bytes = count * MemoryLayout<Float>.stride
        let block: UnsafeMutableRawPointer?, start: UnsafeMutableRawPointer?
        if mapsHugePages(bytes) {
            block = HugeBlocks.take(bytes)
            start = block?.alignedUp(toMultipleOf: HugeBlocks.hugePage)
        } else {
            block = malloc(bytes + 64)
            start = block?.alignedUp(toMultipleOf: 64)
        }
        guard let block, let start else { fatalError("out of memory allocating \(count) floats") }
        return (block, UnsafeMutableBufferPointer(start: start.bindMemory(to: Float.self, capacity: count), count: count))
    }

    /// Releases a block from ``allocate(_:)`` of `count` floats.
    static func release(_ allocation: UnsafeMutableRawPointer, count: Int) {
        let bytes = count * MemoryLayout<Float>.stride
        if mapsHugePages(bytes) { HugeBlocks.give(allocation, bytes: bytes); return }
        free(allocation)
    }

    /// Whether a block of `bytes` is mapped (the size alone decides, so release knows).
    private static func mapsHugePages(_ bytes: Int) -> Bool {
        #if canImport(Glibc)
        return bytes >= hugeBlockBytes
        #else
        return false
        #endif
    }
}
