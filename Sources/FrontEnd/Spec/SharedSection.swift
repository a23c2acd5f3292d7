// SharedSection — a spec section kept once on the heap and shared by every copy of
// the spec until one of them changes it. A sweep's points are copies of the base
// spec that differ in a section or two: the sections they do not change cost each
// point a pointer, not a copy (a million-point sweep holds a million specs).

@propertyWrapper
public struct SharedSection<Value: Hashable & Sendable>: Hashable, Sendable {
    fileprivate final class Box: Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }
    private var box: Box

    public init(wrappedValue: Value) { box = Box(wrappedValue) }

    public var wrappedValue: Value {
        get { box.value }
        set { box = Box(newValue) }
    }

    /// `spec.$data = base.$data` shares the base's copy.
    public var projectedValue: Self {
        get { self }
        set { self = newValue }
    }

    /// Whether both hold the same copy (then they are equal without comparing).
    public func isShared(with other: Self) -> Bool { box === other.box }

    /// Copies of values seen before, for `share(from:)`.
    public struct Pool {
        fileprivate var boxes: [Value: Box] = [:]
        /// The pool's copies by identity: a spec holding one needs no look-up by value.
        fileprivate var held: Set<ObjectIdentifier> = []
        /// A pool stops learning values beyond this many (a sweep whose every point differs gains nothing).
        static var limit: Int { 4096 }
        public init() {}
    }

    /// Takes the pool's copy when it holds the same value, bit for bit (equal values
    /// may differ: -0.0 == 0.0), or adds this copy to the pool.
    public mutating func share(from pool: inout Pool) {
        // The pool's own copy (the base's, say, which every point shares).
        if pool.held.contains(ObjectIdentifier(box)) { return }
        guard let known = pool.boxes[box.value] else {
            if pool.boxes.count < Pool.limit {
                pool.boxes[box.value] = box
                pool.held.insert(ObjectIdentifier(box))
            }
            return
        }
        if known !== box, Self.sameBits(known.value, box.value) { box = known }
    }

    /// Whether two values are the same bits: same numbers, and the same storage for
    /// strings and arrays (values that are equal but stored apart count as different).
    private static func sameBits(_ a: Value, _ b: Value) -> Bool {
        withUnsafeBytes(of: a) { x in withUnsafeBytes(of: b) { y in x.elementsEqual(y) } }
    }

    public static func == (a: Self, b: Self) -> Bool { a.box === b.box || a.box.value == b.box.value }
    public func hash(into hasher: inout Hasher) { hasher.combine(box.value) }
}
