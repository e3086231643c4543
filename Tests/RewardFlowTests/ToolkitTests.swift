import Testing
@testable import RewardFlow
import RewardFlowSynthesis

/// The toolkit's byte buffers, `OutputSpan` appends, newline search and in-place parallel
/// updates, each against a plain-array restatement.
@Suite struct ToolkitTests {
    /// Random bytes (newlines among them about one in `newlineEvery`).
    static func bytes(_ count: Int, seed: UInt64, newlineEvery: Int = 50) -> [UInt8] {
        var rng = SeededRandom(seed)
        return (0..<count).map { _ in rng.next() % UInt64(newlineEvery) == 0 ? 0x0A : UInt8(truncatingIfNeeded: rng.next() % 94 + 32) }
    }

    /// Rows appended through `append(reserving:)` across many growths keep every byte, and
    /// `append(_:_:)`, `removeFirst`, `withBytes` and `append(to:)` move exactly the bytes named.
    @Test func byteBufferKeepsItsBytesAcrossGrowth() {
        let buffer = ByteBuffer(capacity: 0)
        var expected: [UInt8] = []
        for row in 0..<2_000 {
            let name = Self.bytes(row % 37, seed: UInt64(row))
            buffer.append(reserving: name.count + 64) { out in
                out.append(#"{"row": "#, name.span)
                DoubleFormatter.write(#", "x": "#, Double(row) / 7, to: &out)
                DoubleFormatter.writeInteger(#", "n": "#, row - 1_000, to: &out)
                out.append(0x7D)
            }
            expected += Array(#"{"row": "#.utf8) + name + Array(#", "x": "#.utf8) + Array((Double(row) / 7).description.utf8)
            expected += Array(#", "n": "#.utf8) + Array(String(row - 1_000).utf8) + [0x7D]
        }
        var all: [UInt8] = []
        buffer.append(to: &all)
        #expect(all == expected)
        #expect(buffer.count == expected.count)

        let copy = ByteBuffer(capacity: 16)
        copy.append(buffer, 100..<5_000)
        copy.append(buffer, 0..<10)
        copy.removeFirst(1_000)
        var moved: [UInt8] = []
        copy.append(to: &moved)
        #expect(moved == Array(expected[1_100..<5_000] + expected[0..<10]))
        let middle = copy.withBytes(7..<19) { span in (0..<span.count).map { span[$0] } }
        #expect(middle == Array(moved[7..<19]))
        copy.removeAll()
        #expect(copy.count == 0)
    }

    /// `ByteSpans.firstIndex` is `Array.firstIndex` on spans of every length up to 300,
    /// including empty ones and ones without the byte.
    @Test func firstIndexMatchesArrayFirstIndex() {
        for n in 0..<300 {
            let data = Self.bytes(n, seed: UInt64(1_000 + n), newlineEvery: n % 3 == 0 ? 1_000 : 40)
            #expect(ByteSpans.firstIndex(of: 0x0A, in: data.span) == data.firstIndex(of: 0x0A), "length \(n)")
            if n > 2 {
                let tail = data.span.extracting(2..<n)
                #expect(ByteSpans.firstIndex(of: 0x0A, in: tail) == data[2...].firstIndex(of: 0x0A).map { $0 - 2 })
            }
        }
    }

    /// `SendableBuffer.modify` updates elements in place from parallel chunks: every element
    /// gets its own chunk's writes, and no other.
    @Test func modifyUpdatesElementsInPlaceInParallel() {
        var parts = (0..<8).map { [Int](repeating: $0, count: 1_000) }
        Parallel.forEachChunk(threads: 4, count: parts.count, writing: &parts) { chunk, out in
            for k in chunk {
                out.modify(k) { part in
                    for i in part.indices { part[i] += i }
                    part.append(-k)
                }
            }
        }
        for k in 0..<8 {
            #expect(parts[k] == (0..<1_000).map { k + $0 } + [-k])
        }
    }

    /// The scanner's word reads: `word` is the 8 bytes at an offset, little-endian; `paddedWord`
    /// the bytes up to the span's end, zero-padded (short spans, the last 7 offsets, the end).
    @Test func wordsAreTheBytesLittleEndian() {
        for count in [0, 1, 5, 7, 8, 9, 23] {
            let bytes = Self.bytes(count, seed: UInt64(count) + 1)
            func expected(_ offset: Int) -> UInt64 {
                var w: UInt64 = 0
                for (i, b) in bytes[offset..<min(count, offset + 8)].enumerated() { w |= UInt64(b) << (8 * UInt64(i)) }
                return w
            }
            for offset in 0...count {
                #expect(ByteSpans.paddedWord(bytes.span, at: offset) == expected(offset), "count \(count), offset \(offset)")
                if offset + 8 <= count {
                    #expect(ByteSpans.word(bytes.span, at: offset) == expected(offset), "count \(count), offset \(offset)")
                }
            }
        }
    }

    /// `skipPlainJSON` never passes a byte that needs attention (a quote, a backslash, a control
    /// byte, non-ASCII), and stops only at one of them or with fewer than 16 bytes left.
    @Test func skipPlainStopsAtTheFirstByteThatNeedsAttention() {
        var rng = SeededRandom(11)
        for trial in 0..<400 {
            let count = Int(rng.next() % 80)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next() % 94 + 32) }.map { $0 == 0x22 || $0 == 0x5C ? 0x41 : $0 }
            if count > 0 && trial % 2 == 0 {
                bytes[Int(rng.next() % UInt64(count))] = [0x22, 0x5C, 0x0A, 0x1F, 0x80, 0xE2, 0xFF][Int(rng.next() % 7)]
            }
            let start = count == 0 ? 0 : Int(rng.next() % UInt64(count + 1))
            let stop = ByteSpans.skipPlainJSON(bytes.span, from: start)
            let first = bytes[start...].firstIndex { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 || $0 >= 0x80 } ?? count
            #expect(stop >= start && stop <= first, "trial \(trial)")
            #expect(stop == first || count - stop < 16, "trial \(trial)")
        }
    }

    /// The parallel fills and copies equal their serial counterparts at every thread count,
    /// below and above the size at which the loops split.
    @Test func parallelFillsAndCopies() {
        for count in [0, 1, 7, Parallel.serialWork - 1, 100_003] {
            let source = (0..<count).map { Double($0) * 0.5 - 3 }
            for threads in 1...3 {
                #expect([Double].filledParallel(repeating: -2.5, count: count, threads: threads) == [Double](repeating: -2.5, count: count))
                #expect([Int32].filledParallel(repeating: -1, count: count, threads: threads) == [Int32](repeating: -1, count: count))
                #expect([Double].copiedParallel(source, threads: threads) == source)
            }
        }
    }
}
