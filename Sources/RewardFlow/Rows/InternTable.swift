import Glibc

/// Interns byte strings: equal bytes get the same dense `Int32` id, in order of first insertion.
///
/// Storage is one contiguous byte buffer plus offsets, and an open-addressing hash table of ids:
/// no Swift `String` or dictionary entry per value. Equality is full-byte comparison; the hash
/// only picks the probe start.
public struct InternTable: Sendable {
    private var bytes: [UInt8] = []
    private var offsets: [Int] = [0]
    private var hashes: [UInt64] = []
    private var slots: [Int32]
    private var mask: Int

    /// Creates an empty table sized for about `capacity` distinct strings.
    public init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: -1, count: size)
        mask = size - 1
    }

    /// The number of distinct strings.
    public var count: Int { offsets.count - 1 }

    /// The bytes of string `id`.
    public func bytes(of id: Int32) -> ArraySlice<UInt8> {
        bytes[offsets[Int(id)]..<offsets[Int(id) + 1]]
    }

    /// The string `id` decoded as UTF-8 (interned strings are validated UTF-8).
    public func string(of id: Int32) -> String {
        String(decoding: bytes(of: id), as: UTF8.self)
    }

    /// Returns the id of `string`, adding it when new.
    public mutating func intern(_ string: String) -> Int32 {
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
        for i in slots.indices { slots[i] = -1 }
    }

    /// Returns the id of the bytes in `key`, adding them when new.
    public mutating func intern(_ key: UnsafeRawBufferPointer) -> Int32 {
        intern(key, hash: InternTable.hash(key))
    }

    /// Interns every string of `other` in its id order; returns the new id of each.
    mutating func absorb(_ other: InternTable) -> [Int32] {
        var map = [Int32](repeating: 0, count: other.count)
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
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let id = slots[slot]
            if id < 0 { break }
            if hashes[Int(id)] == h && equals(id, key) { return id }
            slot = (slot + 1) & mask
        }
        let id = Int32(count)
        bytes.append(contentsOf: key)
        offsets.append(bytes.count)
        hashes.append(h)
        slots[slot] = id
        if count * 2 > slots.count { grow() }
        return id
    }

    /// Whether string `id` has exactly the bytes of `key`.
    func holds(_ id: Int32, _ key: UnsafeRawBufferPointer) -> Bool { equals(id, key) }

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
        slots = Array(repeating: -1, count: size)
        mask = size - 1
        for id in 0..<count {
            var slot = Int(truncatingIfNeeded: hashes[id]) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(id)
        }
    }

    /// A 64-bit hash of `key` (wyhash-style multiply-mix over 8-byte words).
    ///
    /// Four independent lanes take 32 bytes per step, so long keys (state texts of a few
    /// hundred bytes) are not one serial chain of multiplications; the lanes are folded
    /// together before the tail. The hash only picks a probe start (equality compares the
    /// bytes), so its exact values never reach any output.
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        let n = key.count
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(n)
        var i = 0
        if n >= 32 {
            var a = h, b = h ^ 0x243F_6A88_85A3_08D3, c = h ^ 0x1319_8A2E_0370_7344, d = h ^ 0xA409_3822_299F_31D0
            while i + 32 <= n {
                a = mix(a ^ key.loadUnaligned(fromByteOffset: i, as: UInt64.self), 0xA076_1D64_78BD_642F)
                b = mix(b ^ key.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self), 0xE703_7ED1_A0B4_28DB)
                c = mix(c ^ key.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self), 0x8EBC_6AF0_9C88_C6E3)
                d = mix(d ^ key.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self), 0x5899_65CC_7537_4CC3)
                i += 32
            }
            h = mix(a ^ mix(b, 0xA076_1D64_78BD_642F), mix(c, 0xE703_7ED1_A0B4_28DB) ^ d)
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
public struct KeyInternTable: Sendable {
    private var keys: [UInt64] = []
    private var slots: [Int32]
    private var mask: Int

    /// Creates an empty table sized for about `capacity` distinct keys.
    public init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: -1, count: size)
        mask = size - 1
    }

    /// The number of distinct keys.
    public var count: Int { keys.count }

    /// The key with id `id`.
    public func key(of id: Int32) -> UInt64 { keys[Int(id)] }

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
    public mutating func intern(_ key: UInt64) -> Int32 {
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
