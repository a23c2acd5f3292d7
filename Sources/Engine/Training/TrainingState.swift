// TrainingState — what training carries from one epoch to the next besides the
// weights: the optimizer's state and the position of every random layer's stream
// (dropout, stochastic depth). With it, training stopped after epoch k and resumed
// at epoch k+1 (TrainingConfig.firstEpoch, with the schedule defined over the full
// budget by TrainingConfig.scheduleEpochs) is bitwise the training that never stopped.
import Foundation

/// A layer that draws random numbers from its own stream while training.
public protocol RandomLayer: Layer {
    var randomState: SeededGenerator { get set }
}
extension Dropout: RandomLayer {}
extension StochasticDepth: RandomLayer {}

public struct TrainingState: Sendable {
    /// The last epoch finished.
    public var epoch: Int
    public var optimizer: Optimizer.State
    /// Each random layer's stream position, by layer name.
    public var randomStreams: [String: [UInt64]]
    public init(epoch: Int, optimizer: Optimizer.State, randomStreams: [String: [UInt64]]) {
        self.epoch = epoch; self.optimizer = optimizer; self.randomStreams = randomStreams
    }
}

extension Network {
    /// Every random layer, in forward order.
    public var randomLayers: [RandomLayer] {
        var out: [RandomLayer] = []
        func walk(_ l: Layer) {
            if let r = l as? RandomLayer { out.append(r) }
            switch l {
            case let s as Sequential: s.layers.forEach(walk)
            case let r as Residual: walk(r.body); walk(r.shortcut)
            case let c as Concat: c.branches.forEach(walk)
            case let se as SqueezeExcitation: walk(se.gate)
            default: break
            }
        }
        walk(root)
        return out
    }

    var randomStreams: [String: [UInt64]] {
        Dictionary(randomLayers.map { ($0.name, $0.randomState.snapshot) }, uniquingKeysWith: { a, _ in a })
    }

    func restoreRandomStreams(_ streams: [String: [UInt64]]) throws {
        let layers = randomLayers
        guard Set(layers.map(\.name)) == Set(streams.keys) else {
            throw EngineError.invalidArgument("the saved training state's random layers (\(streams.keys.sorted().joined(separator: ", "))) are not this network's")
        }
        for l in layers {
            guard let g = SeededGenerator(snapshot: streams[l.name]!) else {
                throw EngineError.invalidArgument("the saved random stream of '\(l.name)' is damaged")
            }
            l.randomState = g
        }
    }
}
