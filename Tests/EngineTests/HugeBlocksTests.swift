// HugeBlocks' reuse policy: a freed block of 32 MiB and more is kept for the next request
// of its length; a shorter request takes the head of the shortest longer kept block and
// keeps its tail; a freed block merges with the kept blocks next to it; a request longer
// than every kept block first gives back kept blocks, so that the mapped total never
// exceeds the most that was ever in use.
import Testing
@testable import Engine

@Suite struct HugeBlocksTests {
    let first = UnsafeMutableRawPointer(bitPattern: 0x10000)!, second = UnsafeMutableRawPointer(bitPattern: 0x20000)!

    @Test func aFreedBlockIsTakenBackByARequestOfItsLength() {
        var cache = HugeBlocks.Cache()
        _ = cache.take(100); _ = cache.take(200)
        cache.keep(first, length: 100)
        let (block, release) = cache.take(100)
        #expect(block == first && release.isEmpty)
        #expect(cache.keptBytes == 0 && cache.inUse == 300 && cache.mostInUse == 300)
        // A longer request maps anew (the caller maps it).
        cache.keep(first, length: 100)
        #expect(cache.take(150).0 == nil)
    }

    @Test func aShorterRequestTakesTheHeadOfTheShortestLongerBlock() {
        var cache = HugeBlocks.Cache()
        _ = cache.take(100); _ = cache.take(200)
        cache.keep(second, length: 200); cache.keep(first, length: 100)
        // 60: the head of the 100 (not the 200), whose last 40 stay kept.
        let (block, release) = cache.take(60)
        #expect(block == first && release.isEmpty)
        #expect(cache.keptBytes == 240 && cache.inUse == 60 && cache.mostInUse == 300)
        #expect(cache.kept.contains { $0.block == first + 60 && $0.length == 40 })
        // The tail serves a request of its length; the 200 is still whole.
        #expect(cache.take(40).0 == first + 60)
        #expect(cache.take(200).0 == second && cache.keptBytes == 0)
    }

    @Test func aFreedBlockMergesWithTheKeptBlocksBesideIt() {
        var cache = HugeBlocks.Cache()
        _ = cache.take(300)
        // One mapping of 300 served as three blocks, freed middle last: one block of 300 again.
        cache.keep(first, length: 100); cache.keep(first + 200, length: 100)
        #expect(cache.kept.count == 2)
        cache.keep(first + 100, length: 100)
        #expect(cache.kept.count == 1 && cache.kept[0].block == first && cache.kept[0].length == 300)
        #expect(cache.keptBytes == 300)
        let (block, release) = cache.take(300)
        #expect(block == first && release.isEmpty && cache.keptBytes == 0)
        // A block returned after its split-off tail merges with it.
        cache.keep(first, length: 300)
        #expect(cache.take(120).0 == first)
        cache.keep(first, length: 120)
        #expect(cache.kept.count == 1 && cache.kept[0].length == 300)
    }

    @Test func aLongerRequestGivesBackKeptBlocksBeyondTheMostEverInUse() {
        var cache = HugeBlocks.Cache()
        _ = cache.take(100); _ = cache.take(200)
        cache.keep(first, length: 100); cache.keep(second, length: 200)
        #expect(cache.keptBytes == 300 && cache.inUse == 0)
        // 250, longer than any kept block: the oldest (100) goes, 450 would still exceed 300, so the other one goes too.
        let (none, release) = cache.take(250)
        #expect(none == nil && release.map(\.0) == [first, second])
        #expect(cache.keptBytes == 0 && cache.inUse == 250 && cache.mostInUse == 300)
    }

    @Test func aLongerRequestKeepsWhatFitsUnderTheMostEverInUse() {
        var cache = HugeBlocks.Cache()
        _ = cache.take(100); _ = cache.take(200)
        cache.keep(first, length: 100); cache.keep(second, length: 200)
        _ = cache.take(200)   // the 200 taken back
        // 150 more in use (350 with the 200, the most so far): with the kept 100 that would be 450, so it goes.
        let (none, release) = cache.take(150)
        #expect(none == nil && release.map(\.0) == [first] && cache.keptBytes == 0)
    }
}
