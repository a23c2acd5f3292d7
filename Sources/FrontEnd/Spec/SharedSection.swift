// SharedSection — a spec section kept once on the heap and shared by every copy of
// the spec until one of them changes it. A sweep's points are copies of the base
// spec that differ in a section or two: the sections they do not change cost each
// point a pointer, not a copy (a million-point sweep holds a million specs).

@propertyWrapper
public struct SharedSection<Value: Hashable & Sendable>: Hashable, Sendable {
    private final class Box: Sendable {
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

    public static func == (a: Self, b: Self) -> Bool { a.box === b.box || a.box.value == b.box.value }
    public func hash(into hasher: inout Hasher) { hasher.combine(box.value) }
}
