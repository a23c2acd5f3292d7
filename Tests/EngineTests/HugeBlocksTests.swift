// HugeBlocks' reuse policy: a freed block of 32 MiB and more is kept for the next request
// of its length, and a request that finds none first gives back kept blocks, so that the
// mapped total never exceeds the most that was ever in use.
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
        // Another length maps anew (the caller maps it).
        cache.keep(first, length: 100)
        #expect(cache.take(50).0 == nil)
    }

    @Test func aMissGivesBackKeptBlocksBeyondTheMostEverInUse() {
        var cache = HugeBlocks.Cache()
        _ = cache.take(100); _ = cache.take(200)
        cache.keep(first, length: 100); cache.keep(second, length: 200)
        #expect(cache.keptBytes == 300 && cache.inUse == 0)
        // 50 more in use: the oldest kept block (100) goes, 250 stay mapped (≤ 300).
        let (none, release) = cache.take(50)
        #expect(none == nil && release.map(\.0) == [first])
        #expect(cache.keptBytes == 200 && cache.inUse == 50)
        // 150 more: 200 + 200 > 300, so the other one goes too.
        let (again, more) = cache.take(150)
        #expect(again == nil && more.map(\.0) == [second] && cache.keptBytes == 0)
    }

}
