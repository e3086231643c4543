/// The engine's unsafe toolkit: the only pointer code of the engine's own kernels and of the
/// JSONL scanner (the C libraries' wrappers live in `CLibraries.swift`, the double formatter in
/// its own file).
///
/// Invariants every use keeps (each function below states the part it relies on):
/// 1. Lifetime: a `SendableBuffer` or `UncheckedView` is made here, inside a `with…` scope
///    of the array it views, and is valid only during the call that hands it out; a body
///    never stores one, returns one, or lets a task outlive the call.
/// 2. Disjoint writes: inside one fork-join (`Parallel.forEachChunk(writing:…)`), every index
///    of a written array is written by at most one chunk, and no chunk reads an index another
///    chunk writes. Arrays read through an `UncheckedView` are not written during the view.
/// 3. Bounds: subscripts are checked in debug builds only (`UnsafeMutableBufferPointer`'s own
///    debug precondition); callers index with ids the batch's own CSR / index arrays produced,
///    which `StateGraph`'s initialiser and `TrajectoryIndex` have validated.
/// 4. Initialisation: `Array.makeParallel` hands out uninitialised storage of `BitwiseCopyable`
///    elements; its chunks cover `0..<count` and each writes every index of its own range
///    before the array is returned. `RawBuffer` holds `BitwiseCopyable` elements only
///    (nothing to deinitialise) and is uninitialised after a growth.
/// 5. Ownership: `RawBuffer` and `StampedMap` own their memory (freed in `deinit`) and are
///    per-thread scratch: never shared between chunks.
/// 6. Spans: `ByteSpans` reads a `Span<UInt8>` only inside its `withUnsafeBufferPointer` scope
///    (or through its `bytes`) and within its `count` (the span's own bounds, checked where an
///    index comes from the caller: the scanner's words and SIMD kernel), so its callers (the
///    intern tables, the JSONL scanner) stay safe code.
/// 7. Output: `ByteBuffer` owns page-aligned memory (freed in `deinit`) and keeps its bytes on
///    growth; it hands out an `OutputSpan` over its reserved free space only for the duration
///    of one `append(reserving:)`, and the span's byte appends check its free capacity, so a
///    renderer that writes too much traps instead of writing past the buffer.

import CJSONScan
import Glibc

// MARK: - Views of array storage

/// A mutable view of array storage written at disjoint indices from parallel chunks
/// (invariants 1–3 above); `nonmutating` writes, unchecked in release builds.
package struct SendableBuffer<Element>: @unchecked Sendable {
    /// The memory written (owned by the caller, alive for the parallel loop).
    package let base: UnsafeMutableBufferPointer<Element>
    /// Wraps `base`; chunks must write disjoint indices.
    package init(_ base: UnsafeMutableBufferPointer<Element>) { self.base = base }

    /// Number of elements viewed.
    package var count: Int { base.count }

    /// Element `i` (`0 ≤ i < count`, checked in debug builds).
    @inline(__always)
    package subscript(i: Int) -> Element {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }

    /// Runs `body` on element `i` in place (no copy of the element, so no copy-on-write of
    /// the arrays it holds).
    @inline(__always)
    func modify<R, Failure: Error>(_ i: Int, _ body: (inout Element) throws(Failure) -> R) throws(Failure) -> R {
        try body(&base[i])
    }

    /// The elements `range` as a view of their own, indexed from 0.
    @inline(__always)
    subscript(range: Range<Int>) -> SendableBuffer<Element> {
        SendableBuffer(UnsafeMutableBufferPointer(rebasing: base[range]))
    }

    /// Sets `count` elements from `start` to `value`.
    func update(repeating value: Element, from start: Int = 0, count: Int) {
        guard count > 0 else { return }
        (base.baseAddress! + start).update(repeating: value, count: count)
    }
}

/// A read-only view of an array's storage, unchecked in release builds (invariants 1–3),
/// for the innermost loops of the kernels (a sparse product's gathers).
struct UncheckedView<Element>: @unchecked Sendable {
    let base: UnsafeBufferPointer<Element>

    /// Number of elements viewed.
    var count: Int { base.count }

    /// Element `i` (`0 ≤ i < count`, checked in debug builds).
    @inline(__always)
    subscript(i: Int) -> Element { base[i] }
}

extension Array {
    /// Runs `body` with an unchecked read-only view of the array (valid during the call only).
    @inline(__always)
    func withUncheckedView<R, E: Error>(_ body: (UncheckedView<Element>) throws(E) -> R) throws(E) -> R {
        try withUnsafeBufferPointer { (b) throws(E) -> R in try body(UncheckedView(base: b)) }
    }
}

extension Array {
    /// Runs `body` with a view of the array's storage for writes at disjoint indices from
    /// parallel chunks (invariants 1–3: the view is valid during the call only).
    @inline(__always)
    package mutating func withSendableBuffer<R>(_ body: (SendableBuffer<Element>) -> R) -> R {
        withUnsafeMutableBufferPointer { body(SendableBuffer($0)) }
    }

    /// Sets every element to `value` (one `memset`-like pass, no per-element checks).
    @inline(__always)
    mutating func fill(with value: Element) {
        withUnsafeMutableBufferPointer { $0.update(repeating: value) }
    }
}

/// Unchecked views of three arrays at once (a CSR's offsets, columns and values).
@inline(__always)
func withUncheckedViews<A, B, C, R>(
    _ a: [A], _ b: [B], _ c: [C], _ body: (UncheckedView<A>, UncheckedView<B>, UncheckedView<C>) -> R
) -> R {
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            c.withUnsafeBufferPointer { c in body(UncheckedView(base: a), UncheckedView(base: b), UncheckedView(base: c)) }
        }
    }
}

/// Runs `body` with the inline storage of `value` (a homogeneous tuple of `Element`s, or a
/// struct of them) viewed as `MemoryLayout<T>.size / MemoryLayout<Element>.stride` slots.
/// `T` must consist of `Element`s only (invariant 4: `Element` is `BitwiseCopyable`).
@inline(__always)
func withSlots<T, Element: BitwiseCopyable, R>(
    of value: inout T, as _: Element.Type, _ body: (SendableBuffer<Element>) -> R
) -> R {
    withUnsafeMutableBytes(of: &value) { raw in
        let count = raw.count / MemoryLayout<Element>.stride
        return body(SendableBuffer(UnsafeMutableBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: Element.self), count: count)))
    }
}

// MARK: - Parallel writes into arrays

extension Parallel {
    /// `Parallel.forEachChunk` whose chunks write `a` at disjoint indices (invariant 2).
    package static func forEachChunk<A>(
        threads: Int, count: Int, minimumChunk: Int = 1, work: Int = .max, writing a: inout [A],
        _ body: (Range<Int>, SendableBuffer<A>) -> Void
    ) {
        a.withUnsafeMutableBufferPointer { a in
            let a = SendableBuffer(a)
            forEachChunk(threads: threads, count: count, minimumChunk: minimumChunk, work: work) { body($0, a) }
        }
    }

    /// `Parallel.forEachChunk` whose chunks write `a` and `b` at disjoint indices (invariant 2).
    static func forEachChunk<A, B>(
        threads: Int, count: Int, minimumChunk: Int = 1, work: Int = .max, writing a: inout [A], _ b: inout [B],
        _ body: (Range<Int>, SendableBuffer<A>, SendableBuffer<B>) -> Void
    ) {
        a.withUnsafeMutableBufferPointer { a in
            b.withUnsafeMutableBufferPointer { b in
                let (a, b) = (SendableBuffer(a), SendableBuffer(b))
                forEachChunk(threads: threads, count: count, minimumChunk: minimumChunk, work: work) { body($0, a, b) }
            }
        }
    }

    /// `Parallel.forEachChunk` whose chunks write `a`, `b` and `c` at disjoint indices (invariant 2).
    static func forEachChunk<A, B, C>(
        threads: Int, count: Int, minimumChunk: Int = 1, work: Int = .max,
        writing a: inout [A], _ b: inout [B], _ c: inout [C],
        _ body: (Range<Int>, SendableBuffer<A>, SendableBuffer<B>, SendableBuffer<C>) -> Void
    ) {
        a.withUnsafeMutableBufferPointer { a in
            b.withUnsafeMutableBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    let (a, b, c) = (SendableBuffer(a), SendableBuffer(b), SendableBuffer(c))
                    forEachChunk(threads: threads, count: count, minimumChunk: minimumChunk, work: work) { body($0, a, b, c) }
                }
            }
        }
    }
}

extension Array where Element: BitwiseCopyable {
    /// An array of `count` elements filled by `body(range, out)` over contiguous chunks of
    /// `0..<count` in parallel (as `Parallel.forEachChunk`); `body` must write every index of
    /// its `range` (invariant 4) and nothing else.
    ///
    /// With a `workspace` that holds an array large enough, that array's storage is written
    /// instead of fresh memory (its old contents are all overwritten by the same chunks).
    static func makeParallel(
        count: Int, threads: Int, minimumChunk: Int = 1, work: Int = .max, workspace: ScoringWorkspace? = nil,
        _ body: (Range<Int>, SendableBuffer<Element>) -> Void
    ) -> [Element] {
        if var reused = workspace?.take(count: count, of: Element.self) {
            reused.withUnsafeMutableBufferPointer { buffer in
                let out = SendableBuffer(buffer)
                Parallel.forEachChunk(threads: threads, count: count, minimumChunk: minimumChunk, work: work) { body($0, out) }
            }
            return reused
        }
        return [Element](unsafeUninitializedCapacity: count) { buffer, initialised in
            adviseHugePages(UnsafeMutableRawBufferPointer(buffer))
            let out = SendableBuffer(buffer)
            Parallel.forEachChunk(threads: threads, count: count, minimumChunk: minimumChunk, work: work) { body($0, out) }
            initialised = count
        }
    }
}

extension Array {
    /// Whether this array and `other` are views of the same storage (copies not yet written).
    func sharesStorage(with other: [Element]) -> Bool {
        withUnsafeBufferPointer { a in other.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
    }
}

/// Asks the kernel to back the 2 MiB-aligned interior of `storage` (fresh, not yet written:
/// `makeParallel`'s) with transparent huge pages, so that its first writes fault 2 MiB at a
/// time instead of 4 KiB; a no-op for storage under 4 MiB, where the kernel has no THP, or
/// where it refuses (the advice changes no data).
private func adviseHugePages(_ storage: UnsafeMutableRawBufferPointer) {
    let hugePage = 2 << 20
    guard storage.count >= 2 * hugePage, let base = storage.baseAddress else { return }
    let address = UInt(bitPattern: base)
    let first = (address + UInt(hugePage - 1)) & ~UInt(hugePage - 1)
    let end = (address + UInt(storage.count)) & ~UInt(hugePage - 1)
    guard end > first, let start = UnsafeMutableRawPointer(bitPattern: first) else { return }
    _ = madvise(start, Int(end - first), MADV_HUGEPAGE)
}

// MARK: - Output bytes

/// A growable byte buffer (page aligned, so it can feed `O_DIRECT`) written through
/// `OutputSpan`s or appended to (invariant 7). Used by one thread at a time: a renderer, then
/// (after a hand-off) the writer.
final class ByteBuffer: @unchecked Sendable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes in use: `0..<count`.
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(4096, capacity)
        base = ByteBuffer.allocate(self.capacity)
    }

    deinit { free(base) }

    /// Appends what `body` writes into an `OutputSpan` of `capacity` free bytes (the buffer
    /// grows first when needed); writing more than `capacity` bytes traps.
    @inline(__always)
    func append(reserving capacity: Int, _ body: (inout OutputSpan<UInt8>) -> Void) {
        if count + capacity > self.capacity { grow(count + capacity) }
        let room = UnsafeMutableBufferPointer(start: base + count, count: capacity)
        var out = OutputSpan(buffer: room, initializedCount: 0)
        body(&out)
        count += out.finalize(for: room)
    }

    /// Appends `other`'s bytes `range`.
    func append(_ other: ByteBuffer, _ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= other.count, "bytes \(range) outside 0..<\(other.count)")
        append(contentsOf: UnsafeBufferPointer(start: other.base + range.lowerBound, count: range.count))
    }

    /// Drops the first `n` bytes (the rest moves to the front).
    func removeFirst(_ n: Int) {
        precondition(n >= 0 && n <= count, "cannot remove \(n) of \(count) bytes")
        base.update(from: base + n, count: count - n)
        count -= n
    }

    /// Empties the buffer (keeps its memory).
    func removeAll() { count = 0 }

    /// Appends the bytes of `source` (read within its count).
    private func append(contentsOf source: UnsafeBufferPointer<UInt8>) {
        guard let start = source.baseAddress, source.count > 0 else { return }
        if count + source.count > capacity { grow(count + source.count) }
        (base + count).update(from: start, count: source.count)
        count += source.count
    }

    /// Runs `body` with the bytes `range` (inside `0..<count`).
    func withBytes<R, Failure: Error>(_ range: Range<Int>, _ body: (Span<UInt8>) throws(Failure) -> R) throws(Failure) -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "bytes \(range) outside 0..<\(count)")
        return try body(UnsafeBufferPointer(start: base + range.lowerBound, count: range.count).span)
    }

    /// Appends the bytes in use to `bytes`.
    func append(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: base, count: count))
    }

    private func grow(_ needed: Int) {
        var size = capacity * 2
        while size < needed { size *= 2 }
        let grown = ByteBuffer.allocate(size)
        grown.update(from: base, count: count)
        free(base)
        base = grown
        capacity = size
    }

    private static func allocate(_ size: Int) -> UnsafeMutablePointer<UInt8> {
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 4096, (size + 4095) & ~4095) == 0, let raw else { fatalError("out of memory") }
        return raw.bindMemory(to: UInt8.self, capacity: size)
    }
}

extension OutputSpan where Element == UInt8 {
    /// Appends the UTF-8 bytes of `text`, then the bytes of `bytes` (which must fit in the free
    /// capacity: checked, once).
    @inline(__always)
    mutating func append(_ text: StaticString, _ bytes: Span<UInt8>) {
        let n = text.utf8CodeUnitCount
        precondition(n + bytes.count <= freeCapacity, "\(n + bytes.count) bytes do not fit in \(freeCapacity)")
        bytes.withUnsafeBufferPointer { source in
            withUnsafeMutableBufferPointer { target, initialized in
                let to = target.baseAddress! + initialized
                to.update(from: text.utf8Start, count: n)
                if let from = source.baseAddress { (to + n).update(from: from, count: source.count) }
                initialized += n + source.count
            }
        }
    }
}

// MARK: - Owned raw scratch

/// A growable raw buffer of `BitwiseCopyable` elements owned by one thread (invariants 4–5):
/// no uniqueness or bounds checks in release builds; contents are not kept on growth.
final class RawBuffer<Element: BitwiseCopyable> {
    private var base: UnsafeMutablePointer<Element>
    private var capacity: Int

    /// A buffer of `capacity` (at least 1) elements, each `value`.
    init(capacity: Int = 64, repeating value: Element) {
        self.capacity = Swift.max(1, capacity)
        base = .allocate(capacity: self.capacity)
        base.initialize(repeating: value, count: self.capacity)
    }

    deinit { base.deallocate() }

    /// A view of at least `count` elements (uninitialised after a growth), valid until the
    /// next `reserve`.
    @inline(__always)
    func reserve(_ count: Int) -> SendableBuffer<Element> {
        if count > capacity {
            base.deallocate()
            capacity = Swift.max(count, capacity * 2)
            base = .allocate(capacity: capacity)
        }
        return SendableBuffer(UnsafeMutableBufferPointer(start: base, count: capacity))
    }
}

/// A map from dense keys `0..<count` (state ids) to non-negative `Int32` values that empties in
/// O(1): each entry carries the stamp of the generation that wrote it, and `clear()` starts a
/// new generation. Per-thread scratch of the per-group loops (invariant 5); raw storage, so
/// the hot lookups carry no array uniqueness or bounds checks (keys come from the batch's own
/// id columns, invariant 3).
final class StampedMap {
    private let values: UnsafeMutablePointer<Int32>
    private let stamps: UnsafeMutablePointer<Int32>
    private var stamp: Int32 = 0

    init(count: Int) {
        values = .allocate(capacity: max(1, count))
        stamps = .allocate(capacity: max(1, count))
        stamps.initialize(repeating: -1, count: max(1, count))
        values.initialize(repeating: 0, count: max(1, count))
    }

    deinit {
        values.deallocate()
        stamps.deallocate()
    }

    /// Forgets every entry.
    @inline(__always)
    func clear() { stamp &+= 1 }

    /// The value of `key`, or -1 when it has none in this generation.
    @inline(__always)
    func value(_ key: Int) -> Int32 { stamps[key] == stamp ? values[key] : -1 }

    /// Sets the value of `key`.
    @inline(__always)
    func set(_ key: Int, _ value: Int32) {
        stamps[key] = stamp
        values[key] = value
    }
}

// MARK: - Cache hints

/// Prefetch hints (`CJSONScan`'s `rf_prefetch_read`): they change no value, so a hint for an
/// index outside the array is simply not given.
enum CacheHint {
    /// Hints that `array[index]` will soon be read.
    @inline(__always)
    static func prefetch<Element>(_ array: [Element], at index: Int) {
        guard index >= 0 && index < array.count else { return }
        array.withUnsafeBufferPointer { rf_prefetch_read($0.baseAddress! + index) }
    }

    /// Hints that the first bytes of `bytes` will soon be read.
    @inline(__always)
    static func prefetch(_ bytes: UnsafeRawBufferPointer) {
        if let start = bytes.baseAddress, bytes.count > 0 { rf_prefetch_read(start) }
    }
}

// MARK: - Bytes behind a span

/// Byte work on `Span<UInt8>`s (invariant 6): the intern tables' hash, equality and append; the
/// JSONL scanner's newline search, 8-byte words and string kernel.
enum ByteSpans {
    /// A 64-bit hash of `key`.
    ///
    /// Keys of 64 bytes or more (state texts of a few hundred bytes) go through eight 64-bit
    /// lanes at once, XXH3-style: each 64-byte block is XORed with a constant and every lane
    /// adds the product of its 32-bit halves (one vector multiply per two lanes) and the data
    /// itself; the last, partial block is the key's final 64 bytes (overlapping the previous
    /// block), and the lanes are folded by multiply-mixing. Shorter keys are mixed 8 bytes at a
    /// time. The hash only picks a probe start (equality compares the bytes), so its exact
    /// values never reach any output.
    static func hash(_ span: Span<UInt8>) -> UInt64 {
        span.withUnsafeBufferPointer { key in hash(bytes: UnsafeRawBufferPointer(key)) }
    }

    private static func hash(bytes key: UnsafeRawBufferPointer) -> UInt64 {
        let n = key.count
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(n)
        var i = 0
        if n >= 64, let base = key.baseAddress {
            let secret = SIMD8<UInt64>(
                0xBE4B_A423_396C_FEB8, 0x1CAD_21F7_2C81_017C, 0xDB97_9083_E96D_D4DE, 0x1F67_B3B7_A4A4_4072,
                0x78E5_C0CC_4EE6_79CB, 0x2172_FFCC_7DD0_5A82, 0x8E24_4381_6A56_D2F6, 0xCB79_E16B_AD14_B9E4)
            var acc = SIMD8<UInt64>(repeating: h)
            @inline(__always) func absorb(_ data: SIMD8<UInt64>, _ key: SIMD8<UInt64>) {
                let mixed = data ^ key
                acc &+= (mixed & 0xFFFF_FFFF) &* (mixed &>> 32)
                acc &+= data
            }
            while i + 64 <= n {
                absorb(base.loadUnaligned(fromByteOffset: i, as: SIMD8<UInt64>.self), secret)
                i += 64
            }
            if i < n {
                absorb(base.loadUnaligned(fromByteOffset: n - 64, as: SIMD8<UInt64>.self), secret &>> 7)
            }
            let a = InternTable.mix(acc[0] ^ 0xA076_1D64_78BD_642F, acc[1] ^ 0xE703_7ED1_A0B4_28DB)
            let b = InternTable.mix(acc[2] ^ 0x8EBC_6AF0_9C88_C6E3, acc[3] ^ 0x5899_65CC_7537_4CC3)
            let c = InternTable.mix(acc[4] ^ 0x1D8E_4E27_C47D_124F, acc[5] ^ 0xA076_1D64_78BD_642F)
            let d = InternTable.mix(acc[6] ^ 0xE703_7ED1_A0B4_28DB, acc[7] ^ 0x8EBC_6AF0_9C88_C6E3)
            return InternTable.mix(h ^ a ^ InternTable.mix(b, 0xA076_1D64_78BD_642F), c ^ InternTable.mix(d, 0xE703_7ED1_A0B4_28DB))
        }
        while i + 8 <= n {
            let word = key.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = InternTable.mix(h ^ word, 0xA076_1D64_78BD_642F)
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(key[i]) << shift
                shift += 8
                i += 1
            }
            h = InternTable.mix(h ^ tail, 0xE703_7ED1_A0B4_28DB)
        }
        return InternTable.mix(h, 0x8EBC_6AF0_9C88_C6E3)
    }

    /// Whether `a` and `b` hold the same bytes (lengths compared first, then `memcmp`).
    @inline(__always)
    static func equal(_ a: Span<UInt8>, _ b: Span<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
        }
    }

    /// Appends the bytes of `span` to `bytes`.
    @inline(__always)
    static func append(_ span: Span<UInt8>, to bytes: inout [UInt8]) {
        span.withUnsafeBufferPointer { bytes.append(contentsOf: $0) }
    }

    /// The 8 bytes of `span` from `offset` as a little-endian integer (`offset + 8 ≤ count`:
    /// checked).
    @inline(__always)
    static func word(_ span: Span<UInt8>, at offset: Int) -> UInt64 {
        precondition(offset >= 0 && offset <= span.count - 8, "8 bytes from \(offset) outside 0..<\(span.count)")
        return span.bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: offset, as: UInt64.self).littleEndian
    }

    /// The bytes of `span` from `offset` (at most 8; `offset ≤ count`: checked) as a little-endian
    /// integer, zero-padded past the span's end: near the end, the span's last 8 bytes shifted.
    @inline(__always)
    static func paddedWord(_ span: Span<UInt8>, at offset: Int) -> UInt64 {
        let remaining = span.count &- offset
        precondition(offset >= 0 && remaining >= 0, "index \(offset) outside 0...\(span.count)")
        if remaining >= 8 { return word(span, at: offset) }
        if span.count >= 8 { return word(span, at: span.count - 8) >> (8 * UInt64(8 - remaining)) }
        var w: UInt64 = 0
        for i in 0..<remaining { w |= UInt64(span[offset + i]) << (8 * UInt64(i)) }
        return w
    }

    /// The JSON scanner's string kernel (`CJSONScan`'s SSE2 `rf_json_skip_plain`) on
    /// `span[start...]`: the index of the first byte that is a quote, a backslash, below 0x20
    /// or from 0x80, or else an index from which fewer than 16 bytes remain with none skipped
    /// needing attention; never past the first byte that needs attention.
    @inline(__always)
    static func skipPlainJSON(_ span: Span<UInt8>, from start: Int) -> Int {
        precondition(start >= 0 && start <= span.count, "index \(start) outside 0...\(span.count)")
        return span.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress else { return start }
            return rf_json_skip_plain(base + start, base + bytes.count) - base
        }
    }

    /// The index of the first `byte` in `span` (`memchr`, vectorised), or nil.
    static func firstIndex(of byte: UInt8, in span: Span<UInt8>) -> Int? {
        span.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress, let found = memchr(base, Int32(byte), bytes.count) else { return nil }
            return UnsafeRawPointer(found) - UnsafeRawPointer(base)
        }
    }
}
