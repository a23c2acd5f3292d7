// GraphBuilder — the small vocabulary every lowering writes an ONNX graph with:
// unique value names, initializers (constants) of the dtypes the graphs use,
// nodes with attributes, and the graph's typed inputs and outputs with a
// dynamic batch dimension.
import Foundation
import ONNXProto

/// ONNX `TensorProto.DataType` codes used here.
enum ElementType: Int32 {
    case float = 1, uint8 = 2, int8 = 3, int32 = 6, int64 = 7
}

/// One node attribute.
enum Attribute {
    case int(String, Int)
    case ints(String, [Int])
    case float(String, Float)

    var proto: Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        switch self {
        case .int(let name, let v): a.name = name; a.type = .int; a.i = Int64(v)
        case .ints(let name, let v): a.name = name; a.type = .ints; a.ints = v.map(Int64.init)
        case .float(let name, let v): a.name = name; a.type = .float; a.f = v
        }
        return a
    }
}

/// Nodes and initializers of one graph, in the order they are added (a topological order).
struct GraphBuilder {
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    /// Value names (node outputs, initializers, the graph's input) and node names taken.
    private var values: Set<String> = [], nodeNames: Set<String> = []

    /// `base`, or `base_2`, `base_3`, … when `base` is in `used`.
    private static func unique(_ base: String, in used: inout Set<String>) -> String {
        let root = base.isEmpty ? "value" : base
        var name = root, n = 1
        while used.contains(name) { n += 1; name = "\(root)_\(n)" }
        used.insert(name)
        return name
    }
    mutating func unique(_ base: String) -> String { Self.unique(base, in: &values) }

    /// Marks a value name as taken (the graph's input).
    mutating func reserve(_ name: String) { values.insert(name) }

    private mutating func initializer(_ name: String, type: ElementType, dims: [Int], bytes: Data) -> String {
        var t = Onnx_TensorProto()
        t.name = unique(name)
        t.dataType = type.rawValue
        t.dims = dims.map(Int64.init)
        t.rawData = bytes
        initializers.append(t)
        return t.name
    }

    /// The values' bytes, little-endian as ONNX's raw_data requires (one copy on
    /// little-endian hosts; byte-swapped elsewhere).
    private static func littleEndian<T: BitwiseCopyable>(_ values: [T]) -> Data {
        #if _endian(little)
        return values.withUnsafeBufferPointer { Data(buffer: $0) }
        #else
        return Data(values.withUnsafeBytes { raw in (0..<raw.count).map { raw[$0 / MemoryLayout<T>.size * MemoryLayout<T>.size + MemoryLayout<T>.size - 1 - $0 % MemoryLayout<T>.size] } })
        #endif
    }

    mutating func constant(_ name: String, floats: [Float], dims: [Int]) -> String {
        precondition(floats.count == dims.reduce(1, *))
        return initializer(name, type: .float, dims: dims, bytes: Self.littleEndian(floats))
    }
    mutating func constant(_ name: String, int8: [Int8], dims: [Int]) -> String {
        precondition(int8.count == dims.reduce(1, *))
        return initializer(name, type: .int8, dims: dims, bytes: Data(int8.map { UInt8(bitPattern: $0) }))
    }
    mutating func constant(_ name: String, uint8: [UInt8], dims: [Int]) -> String {
        precondition(uint8.count == dims.reduce(1, *))
        return initializer(name, type: .uint8, dims: dims, bytes: Data(uint8))
    }
    mutating func constant(_ name: String, int32: [Int32], dims: [Int]) -> String {
        precondition(int32.count == dims.reduce(1, *))
        return initializer(name, type: .int32, dims: dims, bytes: Self.littleEndian(int32))
    }
    mutating func constant(_ name: String, int64: [Int64], dims: [Int]) -> String {
        precondition(int64.count == dims.reduce(1, *))
        return initializer(name, type: .int64, dims: dims, bytes: Self.littleEndian(int64))
    }

    /// Adds a node `op(inputs)` named `name` (a layer path) and returns its output's name.
    /// An empty string in `inputs` is an omitted optional input; `output` names the
    /// result (a graph output) instead of a name made from the node's.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], name: String, attributes: [Attribute] = [], output: String? = nil) -> String {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = Self.unique(name.isEmpty ? op : name, in: &nodeNames)
        n.input = inputs
        n.output = [output.map { unique($0) } ?? unique(n.name + "_out")]
        n.attribute = attributes.map(\.proto)
        nodes.append(n)
        return n.output[0]
    }

    /// A float32 tensor value description `[batch, dims…]` with a symbolic batch dimension.
    static func valueInfo(_ name: String, type: ElementType = .float, dims: [Int], batch: String = "batch") -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        var first = Onnx_TensorShapeProto.Dimension()
        first.dimParam = batch
        shape.dim = [first] + dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = Int64(d)
            return dim
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = type.rawValue
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}
