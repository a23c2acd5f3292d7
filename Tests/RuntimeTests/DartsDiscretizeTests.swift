// DARTS's discretization: per edge the strongest operation other than zero, per node
// the two edges whose best operation is strongest (ties: the earlier input).
import Testing
@testable import Runtime
import ModelZoo

@Suite struct DartsDiscretizeTests {
    @Test func strongestNonZeroOperationAndTopTwoEdges() {
        func edge(_ node: Int, _ from: Int, _ w: [Double]) -> DartsRunner.EdgeWeights {
            DartsRunner.EdgeWeights(node: node, from: from, weights: zip([CellOperation.zero, .conv_3x3, .max_pool_3x3, .identity], w).map { ($0, $1) })
        }
        let edges = [
            edge(1, 0, [0.7, 0.1, 0.15, 0.05]),                                   // zero is strongest: max_pool_3x3 is chosen
            edge(2, 0, [0.1, 0.2, 0.3, 0.4]), edge(2, 1, [0.0, 0.9, 0.05, 0.05]),
            edge(3, 0, [0.1, 0.3, 0.3, 0.3]), edge(3, 1, [0.1, 0.5, 0.2, 0.2]), edge(3, 2, [0.1, 0.2, 0.6, 0.1]),
        ]
        let g = DartsRunner.discretize(edges)
        #expect(g.text == [["max_pool_3x3@0"], ["identity@0", "conv_3x3@1"], ["conv_3x3@1", "max_pool_3x3@2"]])
        // Everything parses back as darts_cell_net's genotype.
        #expect((try? Genotype.parse(g.text).get()) == g)
    }
}
