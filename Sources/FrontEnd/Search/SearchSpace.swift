// SearchSpace — a grid sweep seen as the discrete space evolution and the REINFORCE
// controller search: each swept path and its values, and the configuration (sweep
// point) each combination of values is. Mutating a configuration changes one path's
// value; the controller draws one value per path.
import Foundation

public struct SearchSpace: Hashable, Sendable {
    /// Swept paths, in label order.
    public var paths: [String]
    /// Each path's values, in the order the sweep first gives them.
    public var values: [String: [SpecValue]]
    /// The configuration (index into the sweep's points) of each choice of value indices.
    private var index: [[Int]: Int]
    /// Each configuration's value indices, per path.
    public var choices: [[Int]]

    public func configuration(_ choice: [Int]) -> Int? { index[choice] }

    /// The space of `points`, which must be every combination of their swept values.
    public static func make(_ points: [ExperimentPoint]) -> Result<SearchSpace, SearchScheduleError> {
        guard let first = points.first, !first.assignments.isEmpty else {
            return .failure(SearchScheduleError(message: "needs a sweep of at least one field", fix: "sweep some fields with grid"))
        }
        let paths = first.assignments.map(\.path)
        var values: [String: [SpecValue]] = [:]
        var choices: [[Int]] = []
        var index: [[Int]: Int] = [:]
        for (i, p) in points.enumerated() {
            guard p.assignments.map(\.path) == paths else {
                return .failure(SearchScheduleError(message: "needs every configuration to set the same fields", fix: "sweep with grid"))
            }
            let choice = p.assignments.map { a -> Int in
                var known = values[a.path] ?? []
                if let j = known.firstIndex(of: a.value) { return j }
                known.append(a.value)
                values[a.path] = known
                return known.count - 1
            }
            guard index[choice] == nil else {
                return .failure(SearchScheduleError(message: "found two configurations with the same values (\(p.label))", fix: "sweep with grid, each value once"))
            }
            index[choice] = i
            choices.append(choice)
        }
        let combinations = paths.reduce(1) { $0 * (values[$1]?.count ?? 1) }
        guard combinations == points.count else {
            return .failure(SearchScheduleError(message: "needs a grid: every combination of the swept values (\(combinations)), but the sweep has \(points.count) configurations",
                                                fix: "sweep with grid (a product of value lists), not zip, cases or random"))
        }
        return .success(SearchSpace(paths: paths, values: values, index: index, choices: choices))
    }
}
