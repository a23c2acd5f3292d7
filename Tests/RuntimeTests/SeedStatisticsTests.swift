// Seed statistics against values worked out by hand: Student's t quantiles from
// the table every textbook prints, intervals, and exact sign-flip p-values.
import Testing
@testable import Runtime

@Suite struct SeedStatisticsTests {
    @Test func intervalsUseStudentsT() throws {
        #expect(SeedStatistics.t975(1) == 12.706 && SeedStatistics.t975(4) == 2.776 && SeedStatistics.t975(1000) == 1.96)
        let ci = try #require(SeedStatistics.ci95([1, 2, 3]))
        let half = 4.303 / 3.0.squareRoot()   // sd = 1, n = 3
        #expect(abs(ci.low - (2 - half)) < 1e-12 && abs(ci.high - (2 + half)) < 1e-12)
        #expect(SeedStatistics.ci95([5]) == nil)
    }

    @Test func pairedPermutationPValuesAreExact() throws {
        // Every seed favours b by 1: with 3 seeds only the two all-same-sign patterns are as extreme.
        let three = try #require(SeedStatistics.paired([0.5, 0.6, 0.7], [1.5, 1.6, 1.7]))
        #expect(abs(three.meanDifference - 1) < 1e-12 && three.pValue == 2.0 / 8 && three.smallestPossibleP == 0.25)
        // Six seeds, differences 1…6: |sum| 21 only for all + or all −: p = 2/64.
        let six = try #require(SeedStatistics.paired([0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6]))
        #expect(six.pValue == 2.0 / 64)
        // Mixed signs: differences 1, −1, 2, −2 sum to 0, so every pattern is as extreme.
        let noise = try #require(SeedStatistics.paired([0, 0, 0, 0], [1, -1, 2, -2]))
        #expect(noise.pValue == 1)
        #expect(SeedStatistics.paired([1], [2]) == nil)
    }
}
