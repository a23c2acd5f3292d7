// SeedStatistics — what a handful of seeds can and cannot say: a 95 % confidence
// interval for a mean (Student's t), and for two cases run over the same seeds a
// paired comparison: the mean difference with its 95 % interval and the exact
// two-sided p-value of a sign-flip permutation test (every ± assignment of the
// per-seed differences). With n seeds the smallest possible p is 2 / 2ⁿ, so
// three seeds can never show p < 0.05: the report says so instead of guessing.

public enum SeedStatistics {
    /// The 0.975 quantile of Student's t with `df` degrees of freedom (two-sided 95 %).
    public static func t975(_ df: Int) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                               2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        if df < 1 { return .nan }
        if df <= table.count { return table[df - 1] }
        if df <= 40 { return 2.021 }
        if df <= 60 { return 2.000 }
        if df <= 120 { return 1.980 }
        return 1.960
    }

    public static func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(xs.count) }

    /// Sample standard deviation (n − 1); 0 for one value.
    public static func sd(_ xs: [Double]) -> Double {
        guard xs.count > 1 else { return 0 }
        let m = mean(xs)
        return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
    }

    /// The 95 % confidence interval of the mean; nil for fewer than two values.
    public static func ci95(_ xs: [Double]) -> (low: Double, high: Double)? {
        guard xs.count > 1 else { return nil }
        let m = mean(xs), half = t975(xs.count - 1) * sd(xs) / Double(xs.count).squareRoot()
        return (m - half, m + half)
    }

    /// Two cases over the same seeds: b − a per seed.
    public struct PairedComparison: Sendable {
        public var seeds: Int
        public var meanDifference: Double
        public var ci95: (low: Double, high: Double)?
        /// Exact two-sided sign-flip permutation p-value.
        public var pValue: Double
        /// The smallest p-value this many seeds can give (2 / 2ⁿ).
        public var smallestPossibleP: Double
    }

    /// Compares paired values (same seeds, same order); nil for fewer than two pairs
    /// or more than 20 (the exact test enumerates 2ⁿ sign patterns).
    public static func paired(_ a: [Double], _ b: [Double]) -> PairedComparison? {
        guard a.count == b.count, a.count >= 2, a.count <= 20 else { return nil }
        let d = zip(a, b).map { $1 - $0 }
        let n = d.count
        let observed = abs(d.reduce(0, +))
        var asExtreme = 0
        let patterns = 1 << n
        for mask in 0..<patterns {
            var s = 0.0
            for i in 0..<n { s += (mask >> i) & 1 == 1 ? -d[i] : d[i] }
            // A tolerance for sums equal to the observed one up to rounding.
            if abs(s) >= observed - 1e-12 * max(1, observed) { asExtreme += 1 }
        }
        return PairedComparison(seeds: n, meanDifference: mean(d), ci95: ci95(d),
                                pValue: Double(asExtreme) / Double(patterns), smallestPossibleP: 2 / Double(patterns))
    }
}
