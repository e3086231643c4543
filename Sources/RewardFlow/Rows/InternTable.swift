/// Interns byte strings: equal bytes get the same dense `Int32` id, in order of first insertion.
///
/// Storage is one contiguous byte buffer plus offsets, and an open-addressing hash table whose
/// slots hold an id together with 32 bits of its hash (a probe touches the stored strings only
/// when those bits match). Equality is full-byte comparison; the hash only picks the probe start.
/// Large tables also keep a small direct-mapped cache of recently interned hashes: rows repeat
/// the states of their own group, so most lookups are answered from memory that is still in
/// cache, and only a string's first occurrence probes the large table.
package struct InternTable: Sendable {
    private var bytes: [UInt8] = []
    private var offsets: [Int] = [0]
    private var hashes: [UInt64] = []
    /// `0` = empty, else `(hash >> 32) << 32 | (id + 1)`.
    private var slots: [UInt64]
    private var mask: Int
    /// Direct-mapped cache `hash & recentMask → (hash, id)`, empty until the table is large.
    private var recentHashes: [UInt64] = []
    private var recentIDs: [Int32] = []

    /// Entries of the recent-strings cache (a power of two), made once the table holds more
    /// strings than that: below it the table itself stays in cache.
    static let recentCount = 4096

    /// Creates an empty table sized for about `capacity` distinct strings.
    package init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
    }

    /// The number of distinct strings.
    package var count: Int { offsets.count - 1 }

    /// The bytes of string `id`.
    package func bytes(of id: Int32) -> ArraySlice<UInt8> {
        bytes[offsets[Int(id)]..<offsets[Int(id) + 1]]
    }

    /// The string `id` decoded as UTF-8 (interned strings are validated UTF-8).
    package func string(of id: Int32) -> String {
        String(decoding: bytes(of: id), as: UTF8.self)
    }

    /// Returns the id of `string`, adding it when new.
    package mutating func intern(_ string: String) -> Int32 {
        intern(string.utf8.span)
    }

    /// The total length of the strings held.
    var byteCount: Int { bytes.count }

    /// Reserves room for `count` bytes of string data.
    mutating func reserveBytes(_ count: Int) { bytes.reserveCapacity(count) }

    /// Removes every string, keeping the storage (the hash table keeps its size).
    mutating func removeAll(keepingCapacity: Bool) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
        offsets.removeAll(keepingCapacity: keepingCapacity)
        offsets.append(0)
        hashes.removeAll(keepingCapacity: keepingCapacity)
        for i in slots.indices { slots[i] = 0 }
        recentHashes.removeAll()
        recentIDs.removeAll()
    }

    /// Returns the id of the bytes in `key`, adding them when new.
    package mutating func intern(_ key: Span<UInt8>) -> Int32 {
        intern(key, hash: InternTable.hash(key))
    }

    /// Interns every string of `other` in its id order; returns the new id of each.
    mutating func absorb(_ other: InternTable) -> [Int32] {
        var map = [Int32](repeating: 0, count: other.count)
        bytes.reserveCapacity(bytes.count + other.bytes.count)
        let stored = other.bytes.span, ahead = 8
        for id in 0..<other.count {
            // The slots of the strings `ahead` ids on are fetched meanwhile (hashes are known).
            if id + ahead < other.count { prefetch(hash: other.hashes[id + ahead]) }
            map[id] = intern(stored.extracting(other.offsets[id]..<other.offsets[id + 1]), hash: other.hashes[id])
        }
        return map
    }

    /// `intern(key)` with the hash of `key` already known.
    mutating func intern(_ key: Span<UInt8>, hash h: UInt64) -> Int32 {
        let cached = recentHashes.isEmpty ? -1 : Int(truncatingIfNeeded: h) & (InternTable.recentCount - 1)
        if cached >= 0 && recentHashes[cached] == h {
            let id = recentIDs[cached]
            if equals(id, key) { return id }
        }
        let tag = h & 0xFFFF_FFFF_0000_0000
        var slot = Int(truncatingIfNeeded: h) & mask
        var id: Int32 = -1
        while true {
            let entry = slots[slot]
            if entry == 0 { break }
            if entry & 0xFFFF_FFFF_0000_0000 == tag {
                let candidate = Int32(truncatingIfNeeded: entry & 0xFFFF_FFFF) - 1
                if equals(candidate, key) { id = candidate; break }
            }
            slot = (slot + 1) & mask
        }
        if id < 0 {
            id = Int32(count)
            ByteSpans.append(key, to: &bytes)
            offsets.append(bytes.count)
            hashes.append(h)
            slots[slot] = tag | UInt64(UInt32(id) + 1)
            if count * 2 > slots.count { grow() }
        }
        if cached >= 0 {
            recentHashes[cached] = h
            recentIDs[cached] = id
        } else if count > InternTable.recentCount {
            recentHashes = Array(repeating: 0, count: InternTable.recentCount)
            recentIDs = Array(repeating: 0, count: InternTable.recentCount)
        }
        return id
    }

    /// Hints that `intern(_:hash: h)` will soon probe the table: its first slot is fetched into
    /// cache, so the misses of several new strings overlap instead of queuing (no effect on ids).
    @inline(__always)
    func prefetch(hash h: UInt64) {
        CacheHint.prefetch(slots, at: Int(truncatingIfNeeded: h) & mask)
    }

    /// Whether string `id` has exactly the bytes of `key`.
    func holds(_ id: Int32, _ key: Span<UInt8>) -> Bool { equals(id, key) }

    @inline(__always)
    private func equals(_ id: Int32, _ key: Span<UInt8>) -> Bool {
        let start = offsets[Int(id)], end = offsets[Int(id) + 1]
        guard end - start == key.count else { return false }
        return ByteSpans.equal(bytes.span.extracting(start..<end), key)
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = Array(repeating: 0, count: size)
        mask = size - 1
        for id in 0..<count {
            let h = hashes[id]
            var slot = Int(truncatingIfNeeded: h) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = (h & 0xFFFF_FFFF_0000_0000) | UInt64(UInt32(id) + 1)
        }
    }

    /// A 64-bit hash of `key` (`ByteSpans.hash`): it only picks a probe start, so its exact
    /// values never reach any output.
    @inline(__always)
    static func hash(_ key: Span<UInt8>) -> UInt64 { ByteSpans.hash(key) }

    @inline(__always)
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }
}

/// Interns 64-bit keys to dense `Int32` ids in order of first insertion.
package struct KeyInternTable: Sendable {
    private var keys: [UInt64] = []
    private var slots: [Int32]
    private var mask: Int

    /// Creates an empty table sized for about `capacity` distinct keys.
    package init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: -1, count: size)
        mask = size - 1
    }

    /// The number of distinct keys.
    package var count: Int { keys.count }

    /// The key with id `id`.
    package func key(of id: Int32) -> UInt64 { keys[Int(id)] }

    /// Removes every key, keeping the storage.
    mutating func removeAll(keepingCapacity: Bool) {
        keys.removeAll(keepingCapacity: keepingCapacity)
        for i in slots.indices { slots[i] = -1 }
    }

    /// Interns every key of `other` in its id order; returns the new id of each.
    mutating func absorb(_ other: KeyInternTable) -> [Int32] {
        other.keys.map { intern($0) }
    }

    /// Returns the id of `key`, adding it when new.
    package mutating func intern(_ key: UInt64) -> Int32 {
        var slot = Int(truncatingIfNeeded: InternTable.mix(key, 0x9E37_79B9_7F4A_7C15)) & mask
        while true {
            let id = slots[slot]
            if id < 0 { break }
            if keys[Int(id)] == key { return id }
            slot = (slot + 1) & mask
        }
        let id = Int32(keys.count)
        keys.append(key)
        slots[slot] = id
        if keys.count * 2 > slots.count {
            let size = slots.count * 2
            slots = Array(repeating: -1, count: size)
            mask = size - 1
            for (i, k) in keys.enumerated() {
                var s = Int(truncatingIfNeeded: InternTable.mix(k, 0x9E37_79B9_7F4A_7C15)) & mask
                while slots[s] >= 0 { s = (s + 1) & mask }
                slots[s] = Int32(i)
            }
        }
        return id
    }
}
