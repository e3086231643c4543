import Glibc

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
        var s = string
        return s.withUTF8 { intern(UnsafeRawBufferPointer($0)) }
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
    package mutating func intern(_ key: UnsafeRawBufferPointer) -> Int32 {
        intern(key, hash: InternTable.hash(key))
    }

    /// Interns every string of `other` in its id order; returns the new id of each.
    mutating func absorb(_ other: InternTable) -> [Int32] {
        var map = [Int32](repeating: 0, count: other.count)
        bytes.reserveCapacity(bytes.count + other.bytes.count)
        other.bytes.withUnsafeBytes { raw in
            for id in 0..<other.count {
                let lo = other.offsets[id], hi = other.offsets[id + 1]
                map[id] = intern(UnsafeRawBufferPointer(rebasing: raw[lo..<hi]), hash: other.hashes[id])
            }
        }
        return map
    }

    /// `intern(key)` with the hash of `key` already known.
    mutating func intern(_ key: UnsafeRawBufferPointer, hash h: UInt64) -> Int32 {
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
            bytes.append(contentsOf: key)
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

    /// Whether string `id` has exactly the bytes of `key`.
    func holds(_ id: Int32, _ key: UnsafeRawBufferPointer) -> Bool { equals(id, key) }

    @inline(__always)
    private func equals(_ id: Int32, _ key: UnsafeRawBufferPointer) -> Bool {
        let start = offsets[Int(id)], end = offsets[Int(id) + 1]
        guard end - start == key.count else { return false }
        if key.isEmpty { return true }
        return bytes.withUnsafeBytes { stored in
            memcmp(stored.baseAddress! + start, key.baseAddress!, key.count) == 0
        }
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

    /// A 64-bit hash of `key`.
    ///
    /// Keys of 64 bytes or more (state texts of a few hundred bytes) go through eight 64-bit
    /// lanes at once, XXH3-style: each 64-byte block is XORed with a constant and every lane
    /// adds the product of its 32-bit halves (one vector multiply per two lanes) and the data
    /// itself; the last, partial block is the key's final 64 bytes (overlapping the previous
    /// block), and the lanes are folded by multiply-mixing. Shorter keys are mixed 8 bytes at a
    /// time. The hash only picks a probe start (equality compares the bytes), so its exact
    /// values never reach any output.
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
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
            let a = mix(acc[0] ^ 0xA076_1D64_78BD_642F, acc[1] ^ 0xE703_7ED1_A0B4_28DB)
            let b = mix(acc[2] ^ 0x8EBC_6AF0_9C88_C6E3, acc[3] ^ 0x5899_65CC_7537_4CC3)
            let c = mix(acc[4] ^ 0x1D8E_4E27_C47D_124F, acc[5] ^ 0xA076_1D64_78BD_642F)
            let d = mix(acc[6] ^ 0xE703_7ED1_A0B4_28DB, acc[7] ^ 0x8EBC_6AF0_9C88_C6E3)
            return mix(h ^ a ^ mix(b, 0xA076_1D64_78BD_642F), c ^ mix(d, 0xE703_7ED1_A0B4_28DB))
        }
        while i + 8 <= n {
            let word = key.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = mix(h ^ word, 0xA076_1D64_78BD_642F)
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
            h = mix(h ^ tail, 0xE703_7ED1_A0B4_28DB)
        }
        return mix(h, 0x8EBC_6AF0_9C88_C6E3)
    }

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
