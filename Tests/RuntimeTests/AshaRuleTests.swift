// ASHA's decision rule (AshaSearch.State) on made-up results, without training:
// a free worker promotes from the highest rung with a configuration in the top
// ⌊n/eta⌋ of those completed there and not promoted yet, else starts the next
// configuration; finishing orders change the decisions, and the search ends with
// every configuration started and nothing promotable.
import Foundation
import Testing
@testable import Runtime

@Suite struct AshaRuleTests {
    typealias State = AshaSearch.State

    func complete(_ s: inout State, _ configuration: Int, rung: Int, _ metric: Double) {
        s.completed[rung].append(SearchRunner.Trial(configuration: configuration, metric: metric))
    }

    @Test func promotesAsSoonAsAConfigurationIsInTheTopOneOverEta() {
        var s = State(eta: 3, maximize: true, rungEpochs: [1, 3, 9], order: [4, 0, 2, 1, 3, 5, 6, 7, 8])
        // Nothing completed: start the first configuration of the order.
        var d = s.next()
        #expect(d == AshaSearch.Decision(event: "start", job: .init(configuration: 4, rung: 0)))
        s.apply(d!)
        complete(&s, 4, rung: 0, 0.5)
        // One of three needed at rung 0 before the best third holds anyone: start the next.
        d = s.next(); #expect(d?.event == "start" && d?.job.configuration == 0); s.apply(d!)
        complete(&s, 0, rung: 0, 0.7)
        d = s.next(); #expect(d?.event == "start" && d?.job.configuration == 2); s.apply(d!)
        complete(&s, 2, rung: 0, 0.6)
        // Three completed: the best (0, at 0.7) is promoted at once, before any new start.
        d = s.next()
        #expect(d == AshaSearch.Decision(event: "promote", job: .init(configuration: 0, rung: 1)))
        s.apply(d!)
        // Promoted once only: the next free worker starts a new configuration.
        d = s.next(); #expect(d?.event == "start" && d?.job.configuration == 1); s.apply(d!)
        complete(&s, 1, rung: 0, 0.9)
        // Four completed, the best third is {1}: promoted at once.
        d = s.next(); #expect(d == AshaSearch.Decision(event: "promote", job: .init(configuration: 1, rung: 1))); s.apply(d!)
        d = s.next(); #expect(d?.event == "start" && d?.job.configuration == 3); s.apply(d!)
        complete(&s, 3, rung: 0, 0.1)
        d = s.next(); #expect(d?.event == "start" && d?.job.configuration == 5); s.apply(d!)
        complete(&s, 5, rung: 0, 0.8)
        // Six completed, top 2 = {1 (0.9), 5 (0.8)}: 5 is promoted; 0, promoted earlier,
        // has fallen out of the top 2 meanwhile (ASHA's "mispromotion").
        d = s.next(); #expect(d == AshaSearch.Decision(event: "promote", job: .init(configuration: 5, rung: 1))); s.apply(d!)
        d = s.next(); #expect(d?.event == "start" && d?.job.configuration == 6); s.apply(d!)
        #expect(s.promoted[0] == [0, 1, 5] && s.started == 7)
    }

    @Test func theHighestRungGoesFirstAndTheSearchEnds() {
        var s = State(eta: 2, maximize: false, rungEpochs: [1, 2, 4], order: [0, 1, 2, 3])
        for _ in 0..<4 { let d = s.next()!; #expect(d.event == "start"); s.apply(d) }
        for c in 0..<4 { complete(&s, c, rung: 0, Double(c)) }
        // val.loss: lower is better. Top 2 of rung 0 = {0, 1}, promoted one after the other.
        var d = s.next(); #expect(d?.job == .init(configuration: 0, rung: 1)); s.apply(d!)
        d = s.next(); #expect(d?.job == .init(configuration: 1, rung: 1)); s.apply(d!)
        #expect(s.next() == nil, "all started, nothing promotable: wait for a result")
        complete(&s, 0, rung: 1, 0.5)
        #expect(s.next() == nil, "one result at rung 2 has no best half yet")
        complete(&s, 1, rung: 1, 0.2)
        // Rung 2 has two results: its best (1) goes to rung 3.
        d = s.next(); #expect(d == AshaSearch.Decision(event: "promote", job: .init(configuration: 1, rung: 2))); s.apply(d!)
        // All started, nothing promotable while rung 2 runs: wait.
        #expect(s.next() == nil)
        complete(&s, 1, rung: 2, 0.1)
        #expect(s.next() == nil, "every configuration started and nothing is promotable: the search is over")
        #expect(s.ranked(s.completed[2]).first?.configuration == 1)
    }

    @Test func finishingOrderChangesPromotions() {
        // The same results arriving in another order promote another configuration first.
        func firstPromotion(_ arrivals: [(Int, Double)]) -> Int? {
            var s = State(eta: 2, maximize: true, rungEpochs: [1, 2], order: [0, 1, 2, 3])
            for _ in 0..<4 { s.apply(s.next()!) }
            for (c, m) in arrivals {
                complete(&s, c, rung: 0, m)
                if let d = s.next(), d.event == "promote" { return d.job.configuration }
            }
            return nil
        }
        #expect(firstPromotion([(0, 0.3), (1, 0.5), (2, 0.9), (3, 0.1)]) == 1)
        #expect(firstPromotion([(2, 0.9), (3, 0.1), (0, 0.3), (1, 0.5)]) == 2)
    }

    @Test func theDrawOrderIsSeeded() {
        #expect(AshaSearch.order(count: 20, seed: 3) == AshaSearch.order(count: 20, seed: 3))
        #expect(AshaSearch.order(count: 20, seed: 3) != AshaSearch.order(count: 20, seed: 4))
        #expect(AshaSearch.order(count: 20, seed: 3).sorted() == Array(0..<20))
    }
}
