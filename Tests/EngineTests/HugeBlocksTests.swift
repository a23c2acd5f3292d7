// HugeBlocks' reuse policy: a freed block of 32 MiB and more is kept for the next request
// of its length; a shorter request takes the head of the shortest longer kept block and
// gives back its tail; a longer one first gives back kept blocks, so that the mapped total
// never exceeds the most that was ever in use.
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
        // 60: the head of the 100 (not the 200), whose last 40 are unmapped.
        let (block, release) = cache.take(60)
        #expect(block == first && release.count == 1 && release[0].0 == first + 60 && release[0].1 == 40)
        #expect(cache.keptBytes == 200 && cache.inUse == 60 && cache.mostInUse == 300)
        // Returned, it is kept at its new length.
        cache.keep(first, length: 60)
        #expect(cache.take(60).0 == first)
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
