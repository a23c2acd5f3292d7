// DartsCell — the cell of differentiable architecture search (DARTS, Liu et al.
// 2018) as a pure description: its candidate operations, the edges of its small
// DAG, and the two zoo architectures built from it:
//   darts_supernet  every edge a softmax(alpha)-weighted mixture of the chosen
//                   operations (alpha shared by all cells, one row per edge);
//   darts_cell_net  the discrete network a search derives: one operation per edge
//                   (its `genotype`), trained from scratch like any architecture.
// Node 0 of a cell is its input; node j (1…nodes) sums its edges from nodes 0…j−1;
// the cell's output is the sum of nodes 1…nodes (C×H×W in and out). A network is a
// stem (3×3 conv + batch norm), the cells with 2×2 max pooling after the positions in
// `reductions` (0: after the stem), global average pooling and the head.

/// One candidate operation of an edge; every one keeps C×H×W (stride 1).
public enum CellOperation: String, CaseIterable, Codable, Hashable, Sendable {
    case zero
    case identity
    case conv_3x3
    case conv_5x5
    case sep_conv_3x3
    case max_pool_3x3
    case avg_pool_3x3

    /// The window the operation looks through: the feature map must be at least this big.
    public var window: Int {
        switch self {
        case .zero, .identity: 1
        case .conv_3x3, .sep_conv_3x3, .max_pool_3x3, .avg_pool_3x3: 3
        case .conv_5x5: 5
        }
    }

    /// Its layers for `channels` channels (ReLU-conv-BN; empty: identity or zero).
    public func layers(channels c: Int) -> [LayerDescription] {
        switch self {
        case .zero, .identity: []
        case .conv_3x3, .conv_5x5:
            [.relu(name: "relu"), .conv(name: "conv", filters: c, kernel: window, stride: 1, padding: window / 2, groups: 1, bias: false),
             .batchNorm(name: "bn")]
        case .sep_conv_3x3:
            [.relu(name: "relu"), .conv(name: "depthwise", filters: c, kernel: 3, stride: 1, padding: 1, groups: c, bias: false),
             .conv(name: "pointwise", filters: c, kernel: 1, stride: 1, padding: 0, groups: 1, bias: false), .batchNorm(name: "bn")]
        case .max_pool_3x3: [.maxPool(name: "pool", size: 3, stride: 1, padding: 1)]
        case .avg_pool_3x3: [.avgPool(name: "pool", size: 3, stride: 1, padding: 1)]
        }
    }
}

/// An edge into a node: from node `from` (0: the cell's input) through one operation,
/// or (several) their softmax(alpha)-weighted mixture.
public struct CellEdge: Codable, Hashable, Sendable {
    public var from: Int
    public var operations: [CellOperation]
    public init(from: Int, operations: [CellOperation]) { self.from = from; self.operations = operations }

    /// The path of the edge's operation `op` inside cell `cell`, node `node`.
    public static func path(cell: String, node: Int, from: Int, op: CellOperation) -> String {
        "\(cell).node\(node).in\(from).\(op.rawValue)"
    }
}

/// The layout shared by the supernet and the derived network.
public struct CellNetworkLayout: Hashable, Sendable {
    public var cells: Int
    public var channels: Int
    /// Positions after which a 2×2 max pooling halves height and width (0: the stem).
    public var reductions: [Int]
    public init(cells: Int, channels: Int, reductions: [Int]) { self.cells = cells; self.channels = channels; self.reductions = reductions }

    /// Height and width at each cell (1-based index − 1) for an input of `input`.
    public func sizes(input: FeatureShape) -> [(height: Int, width: Int)] {
        var h = input.height, w = input.width
        if reductions.contains(0) { h /= 2; w /= 2 }
        var out: [(Int, Int)] = []
        for c in 1...max(cells, 1) {
            out.append((h, w))
            if reductions.contains(c) { h /= 2; w /= 2 }
        }
        return out
    }

    /// The backbone: stem, cells (each from `cell(name)`), reductions, global pooling.
    func backbone(_ cell: (String) -> LayerDescription) -> [LayerDescription] {
        var layers: [LayerDescription] = [
            .block(name: "stem", layers: [.conv(name: "conv", filters: channels, kernel: 3, stride: 1, padding: 1, groups: 1, bias: false),
                                          .batchNorm(name: "bn")]),
        ]
        if reductions.contains(0) { layers.append(.maxPool(name: "reduce0", size: 2, stride: 2, padding: 0)) }
        for c in 1...cells {
            layers.append(cell("cell\(c)"))
            if reductions.contains(c) { layers.append(.maxPool(name: "reduce\(c)", size: 2, stride: 2, padding: 0)) }
        }
        layers.append(.globalAvgPool(name: "pool"))
        return layers
    }
}

/// The discrete choice of a derived cell: per node, its edges (one operation each).
public struct Genotype: Hashable, Sendable, Codable {
    public var nodes: [[CellEdge]]
    public init(nodes: [[CellEdge]]) { self.nodes = nodes }

    /// `op@from` per edge, a list per node (the `genotype` option's form).
    public var text: [[String]] { nodes.map { $0.map { "\($0.operations.first?.rawValue ?? "?")@\($0.from)" } } }

    /// Parses the `genotype` option's form, or says what is wrong.
    public static func parse(_ nodes: [[String]]) -> Result<Genotype, GenotypeError> {
        guard !nodes.isEmpty else { return .failure(GenotypeError("expected at least one node, e.g. [[conv_3x3@0], [sep_conv_3x3@1, identity@0]]")) }
        var out: [[CellEdge]] = []
        for (j, edges) in nodes.enumerated() {
            guard !edges.isEmpty else { return .failure(GenotypeError("node \(j + 1) has no edges; give it at least one op@input")) }
            var node: [CellEdge] = []
            for e in edges {
                let parts = e.split(separator: "@", omittingEmptySubsequences: false)
                guard parts.count == 2, let from = Int(parts[1]) else {
                    return .failure(GenotypeError("'\(e)' is not op@input (e.g. sep_conv_3x3@0)"))
                }
                guard let op = CellOperation(rawValue: String(parts[0])) else {
                    let hint = Zoo.closest(String(parts[0]), among: CellOperation.allCases.map(\.rawValue)).map { "; did you mean '\($0)'?" } ?? ""
                    return .failure(GenotypeError("unknown operation '\(parts[0])' in '\(e)'\(hint) (operations: \(CellOperation.allCases.map(\.rawValue).joined(separator: ", ")))"))
                }
                guard op != .zero else { return .failure(GenotypeError("'\(e)': a zero edge adds nothing; leave it out")) }
                guard from >= 0, from <= j else {
                    return .failure(GenotypeError("'\(e)' in node \(j + 1) must come from 0 (the cell's input) to \(j) (an earlier node)"))
                }
                guard !node.contains(where: { $0.from == from }) else { return .failure(GenotypeError("node \(j + 1) has two edges from \(from)")) }
                node.append(CellEdge(from: from, operations: [op]))
            }
            out.append(node)
        }
        return .success(Genotype(nodes: out))
    }
}

extension Zoo {
    static let dartsCatalog: [ArchitectureInfo] = [
        ArchitectureInfo(name: "darts_supernet", family: "darts",
                         summary: "DARTS search network: stem, cells whose every edge mixes the candidate operations by softmax(alpha), global pooling",
                         options: [OptionInfo(name: "operations", type: .stringList, summary: "candidate operations of every edge",
                                              defaultValue: "[" + CellOperation.allCases.map(\.rawValue).joined(separator: ", ") + "]"),
                                   OptionInfo(name: "nodes", type: .int, summary: "intermediate nodes per cell", defaultValue: "3"),
                                   OptionInfo(name: "cells", type: .int, summary: "cells", defaultValue: "3"),
                                   OptionInfo(name: "channels", type: .int, summary: "channels of the stem and every cell", defaultValue: "16"),
                                   OptionInfo(name: "reductions", type: .intList, summary: "2×2 max pooling after these cells (0: after the stem)", defaultValue: "[0, 1]")]),
        ArchitectureInfo(name: "darts_cell_net", family: "darts",
                         summary: "a cell derived by DARTS (one operation per edge), stacked: stem, cells, global pooling",
                         options: [OptionInfo(name: "genotype", type: .stringListList, summary: "per node its edges as op@input (0: the cell's input)",
                                              defaultValue: "[[sep_conv_3x3@0], [conv_3x3@0, identity@1], [max_pool_3x3@1, sep_conv_3x3@2]]"),
                                   OptionInfo(name: "cells", type: .int, summary: "cells", defaultValue: "3"),
                                   OptionInfo(name: "channels", type: .int, summary: "channels of the stem and every cell", defaultValue: "16"),
                                   OptionInfo(name: "reductions", type: .intList, summary: "2×2 max pooling after these cells (0: after the stem)", defaultValue: "[0, 1]")]),
    ]

    static let defaultGenotype = [["sep_conv_3x3@0"], ["conv_3x3@0", "identity@1"], ["max_pool_3x3@1", "sep_conv_3x3@2"]]

    /// The backbone of `darts_supernet` or `darts_cell_net`.
    static func darts(_ name: String, options: [String: OptionValue], input: FeatureShape) throws(ZooError) -> [LayerDescription] {
        func int(_ key: String, _ d: Int, _ range: ClosedRange<Int>) throws(ZooError) -> Int {
            guard let v = options[key] else { return d }
            guard case .int(let i) = v, range.contains(i) else {
                throw .badOption(arch: name, option: key, message: "expected an integer in \(range.lowerBound)…\(range.upperBound)")
            }
            return i
        }
        let cells = try int("cells", 3, 1...20), channels = try int("channels", 16, 1...1024)
        var reductions = [0, 1]
        if let v = options["reductions"] {
            guard let l = v.intList, l.allSatisfy({ (0...cells).contains($0) }), Set(l).count == l.count else {
                throw .badOption(arch: name, option: "reductions", message: "expected distinct positions from 0 (after the stem) to \(cells) (after the last cell), e.g. [0, 1]")
            }
            reductions = l
        }
        let layout = CellNetworkLayout(cells: cells, channels: channels, reductions: reductions)
        let operations: [CellOperation]
        let nodes: [[CellEdge]]
        var fitOption = "operations"
        if name == "darts_supernet" {
            let count = try int("nodes", 3, 1...8)
            if let v = options["operations"] {
                guard case .list(let items) = v, !items.isEmpty else {
                    throw .badOption(arch: name, option: "operations", message: "expected a non-empty list of operations: \(CellOperation.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                var ops: [CellOperation] = []
                for item in items {
                    guard case .string(let s) = item, let op = CellOperation(rawValue: s) else {
                        let hint = Zoo.closest(item.description, among: CellOperation.allCases.map(\.rawValue)).map { "; did you mean '\($0)'?" } ?? ""
                        throw .badOption(arch: name, option: "operations", message: "unknown operation '\(item)'\(hint) (operations: \(CellOperation.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    guard !ops.contains(op) else { throw .badOption(arch: name, option: "operations", message: "'\(s)' is listed twice") }
                    ops.append(op)
                }
                guard ops.contains(where: { $0 != .zero }) else {
                    throw .badOption(arch: name, option: "operations", message: "needs an operation other than zero (zero is never chosen)")
                }
                operations = ops
            } else { operations = CellOperation.allCases }
            nodes = (1...count).map { j in (0..<j).map { CellEdge(from: $0, operations: operations) } }
        } else {
            var text = defaultGenotype
            if let v = options["genotype"] {
                guard case .list(let items) = v else { throw .badOption(arch: name, option: "genotype", message: "expected a list of lists of op@input, e.g. \(defaultGenotype)") }
                var rows: [[String]] = []
                for item in items {
                    guard case .list(let edges) = item else {
                        throw .badOption(arch: name, option: "genotype", message: "expected a list per node, e.g. \(defaultGenotype)")
                    }
                    var row: [String] = []
                    for e in edges {
                        switch e {
                        case .string(let s): row.append(s)
                        default: throw .badOption(arch: name, option: "genotype", message: "'\(e)' is not op@input (e.g. sep_conv_3x3@0)")
                        }
                    }
                    rows.append(row)
                }
                text = rows
            }
            switch Genotype.parse(text) {
            case .success(let g): nodes = g.nodes
            case .failure(let e): throw .badOption(arch: name, option: "genotype", message: e.message)
            }
            operations = Array(Set(nodes.flatMap { $0.flatMap(\.operations) })).sorted { $0.rawValue < $1.rawValue }
            fitOption = "genotype"
        }
        // Every operation's window must fit every cell's feature map.
        let sizes = layout.sizes(input: input)
        if let widest = operations.max(by: { $0.window < $1.window }) {
            for (c, s) in sizes.enumerated() where min(s.height, s.width) < widest.window {
                let pools = reductions.filter { $0 < c + 1 }.count
                throw .badOption(arch: name, option: fitOption,
                                 message: "cell \(c + 1) runs at \(s.height)×\(s.width) after \(pools) reduction\(pools == 1 ? "" : "s") of the \(input.height)×\(input.width) input, too small for \(widest.rawValue) (\(widest.window)×\(widest.window)); "
                                    + "remove a reduction (reductions: \(reductions.filter { $0 < c + 1 }.dropLast())) or drop \(widest.rawValue)" + (fitOption == "operations" ? " from the operations" : ""))
            }
        }
        if sizes.contains(where: { $0.height < 1 || $0.width < 1 }) {
            throw .badOption(arch: name, option: "reductions", message: "the \(input.height)×\(input.width) input cannot be halved \(reductions.count) times")
        }
        let alpha = name == "darts_supernet" ? "alpha" : nil
        return layout.backbone { .cell(name: $0, nodes: nodes, alpha: alpha) }
    }
}

/// Why a genotype does not parse.
public struct GenotypeError: Error, Hashable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}
