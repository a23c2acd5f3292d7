// Progress within an epoch: the live footer's images per second and time left, and
// the log line a long epoch writes every half minute.
import Foundation
import Testing
@testable import Execution
@testable import TLCCommands

@Suite struct ProgressTests {
    @Test func theFooterGivesImagesPerSecondAndTheTimeLeft() {
        // 2,000 of 50,000 images in 20 s: 100 images/s; 48,000 left in this epoch and
        // 50,000 in the next → 980 s.
        let text = ProgressDisplay.batchText(epoch: 1, epochs: 2, batch: 63, batches: 1563, loss: 0.5, images: 2000, total: 50000, seconds: 20)
        #expect(text == "epoch 1/2  batch 63/1563  loss 0.5000  100 img/s  ETA 16 min 20 s", "\(text)")
        #expect(!ProgressDisplay.batchText(epoch: 1, epochs: 1, batch: 1, batches: 9, loss: 1, images: 32, total: 288, seconds: 0).contains("img/s"))
    }

    @Test func aLongEpochLogsWhereItIsEveryHalfMinute() {
        let progress = EpochProgress(interval: 30)
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        #expect(progress.line(epoch: 1, epochs: 3, images: 64, total: 6400, now: t0) == nil)
        #expect(progress.line(epoch: 1, epochs: 3, images: 640, total: 6400, now: t0.addingTimeInterval(10)) == nil)
        let line = progress.line(epoch: 1, epochs: 3, images: 1280, total: 6400, now: t0.addingTimeInterval(32))
        #expect(line == "  epoch 1/3: 1280/6400 images, 40 images/s, about 2 min 8 s left in this epoch", "\(line ?? "nil")")
        #expect(progress.line(epoch: 1, epochs: 3, images: 1300, total: 6400, now: t0.addingTimeInterval(40)) == nil)
        // A new epoch starts its own clock; the epoch's last batch is the epoch line's business.
        #expect(progress.line(epoch: 2, epochs: 3, images: 64, total: 6400, now: t0.addingTimeInterval(200)) == nil)
        #expect(progress.line(epoch: 2, epochs: 3, images: 6400, total: 6400, now: t0.addingTimeInterval(400)) == nil)
        #expect(durationText(45) == "45 s" && durationText(7500) == "2 h 5 min")
    }
}
