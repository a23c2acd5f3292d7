// CBatchNorm's kernels against BatchNorm's Swift loops (the fallback on CPUs without AVX2),
// bitwise: the statistics, the normalization with no activation, a ReLU or a ReLU6, and the
// backward pass's sums and input gradient with no mask, a ReLU's and a ReLU6's; rows whose
// length is and is not a multiple of 8, with signed zeros and values at the ReLU6's ceiling.
import CBatchNorm
@testable import Engine
import Testing

@Suite struct BatchNormKernelTests {
    /// `samples` rows of `count` values `stride` apart (the other channels' values between them).
    static func channel(samples: Int, count: Int, stride: Int, seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed)
        let t = Tensor(zeros: [samples * stride])
        g.fillNormal(t, std: 2)
        var v = t.values
        for k in Swift.stride(from: 0, to: v.count, by: 13) { v[k] = k % 2 == 0 ? -0.0 : 0 }
        for k in Swift.stride(from: 5, to: v.count, by: 29) { v[k] = 6 }
        return v
    }

    @Test(arguments: [(4, 49, 3), (3, 64, 2), (5, 7, 1), (2, 197, 2)])
    func kernelsGiveTheSwiftLoopsBits(samples: Int, count: Int, channels: Int) {
        guard tlc_batchnorm_level() > 0 else { return }
        let stride = count * channels
        let x = Self.channel(samples: samples, count: count, stride: stride, seed: 1)
        let dy = Self.channel(samples: samples, count: count, stride: stride, seed: 2)
        // A fused activation's output: the normalized values themselves (negative, zero, inside, at and above 6).
        let mask = Self.channel(samples: samples, count: count, stride: stride, seed: 3).map { $0 * 3 }
        x.withUnsafeBufferPointer { xb in
            dy.withUnsafeBufferPointer { gb in
                mask.withUnsafeBufferPointer { mb in
                    let xp = xb.baseAddress!, gp = gb.baseAddress!, mp = mb.baseAddress!
                    var sum = 0.0, sq = 0.0
                    for s in 0..<samples { sum += BatchNorm.rowSum(xp + s * stride, count: count) }
                    let mean = sum / Double(samples * count)
                    for s in 0..<samples { sq += BatchNorm.rowSquaredDeviation(xp + s * stride, count: count, from: mean) }
                    #expect(tlc_batchnorm_sum(xp, samples, stride, count).bitPattern == sum.bitPattern)
                    #expect(tlc_batchnorm_squared_deviation(xp, samples, stride, count, mean).bitPattern == sq.bitPattern)
                    let (mf, istd, gamma, beta): (Float, Float, Float, Float) = (Float(mean), 0.7, 1.3, -0.0)
                    for (relu, ceiling) in [(false, nil), (true, nil), (true, Float(6))] as [(Bool, Float?)] {
                        var expected = [Float](repeating: 1, count: samples * stride), got = expected
                        expected.withUnsafeMutableBufferPointer { e in
                            for s in 0..<samples {
                                let p = xp + s * stride, q = e.baseAddress! + s * stride
                                for i in 0..<count { let v = (p[i] - mf) * istd; q[i] = v * gamma + beta }
                                if relu { BatchNorm.rectify(q, count: count, ceiling: ceiling) }
                            }
                        }
                        tlc_batchnorm_normalize(xp, &got, samples, stride, count, mf, istd, gamma, beta, relu ? 1 : 0, ceiling ?? .infinity)
                        #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "relu \(relu) ceiling \(String(describing: ceiling))")
                    }
                    for (masked, ceiling) in [(false, nil), (true, nil), (true, Float(6))] as [(Bool, Float?)] {
                        var sums = (0.0, 0.0)
                        for s in 0..<samples {
                            let row = BatchNorm.BackwardRow(g: gp + s * stride, x: xp + s * stride, mask: masked ? mp + s * stride : nil,
                                                            mean: mf, invStd: istd, ceiling: ceiling)
                            let r = BatchNorm.rowGradientSums(row, count: count)
                            sums.0 += r.0; sums.1 += r.1
                        }
                        var pair = [0.0, 0.0]
                        tlc_batchnorm_gradient_sums(gp, xp, masked ? mp : nil, samples, stride, count, mf, istd, ceiling ?? .infinity, &pair)
                        #expect(pair[0].bitPattern == sums.0.bitPattern && pair[1].bitPattern == sums.1.bitPattern, "masked \(masked)")
                        #expect(sums.0 != 0 && sums.1 != 0)
                        let (k, m, sumG, sumGX): (Float, Float, Float, Float) = (0.01, Float(samples * count), Float(sums.0), Float(sums.1))
                        var expected = [Float](repeating: 1, count: samples * stride), got = expected
                        expected.withUnsafeMutableBufferPointer { e in
                            for s in 0..<samples {
                                let row = BatchNorm.BackwardRow(g: gp + s * stride, x: xp + s * stride, mask: masked ? mp + s * stride : nil,
                                                                mean: mf, invStd: istd, ceiling: ceiling)
                                BatchNorm.rowInputGradient(row, count: count, k: k, m: m, sumG: sumG, sumGX: sumGX, into: e.baseAddress! + s * stride)
                            }
                        }
                        tlc_batchnorm_input_gradient(gp, xp, masked ? mp : nil, &got, samples, stride, count, mf, istd, ceiling ?? .infinity,
                                                     k, m, sumG, sumGX)
                        #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "masked \(masked) ceiling \(String(describing: ceiling))")
                    }
                }
            }
        }
    }
}
