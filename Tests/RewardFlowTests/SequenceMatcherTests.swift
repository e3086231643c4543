import Foundation
import Testing
@testable import RewardFlow
import RewardFlowSynthesis

/// `SequenceMatcher` against CPython's `difflib` (the system `python3`), bit for bit, on
/// generated pairs: short texts, texts of 200+ scalars (autojunk), repeated characters around
/// the 200 boundary, swapped and dropped words, counters, and non-ASCII text (accents,
/// combining marks, CJK, emoji with ZWJ and skin-tone modifiers).
@Suite struct SequenceMatcherTests {
    @Test func docExamples() {
        #expect(SequenceMatcher.ratio("abcd", "bcde") == 0.75)
        #expect(SequenceMatcher.ratio("", "") == 1.0)
        #expect(SequenceMatcher.ratio("abc", "") == 0.0)
        // Popular elements never seed a match but a match may extend over them.
        let long = String(repeating: "a", count: 300)
        #expect(SequenceMatcher.ratio(long, long) == 1.0)
        var m = SequenceMatcher()
        let (a, b) = (SimilarityText("abcd"), SimilarityText("bcde"))
        #expect(m.quickRatio(a, b) == 0.75)
        #expect(SequenceMatcher.realQuickRatio(a, b) == 1.0)
    }

    @Test func earlyExitDecidesLikeTheFullRatio() {
        var rng = SeededRandom(7)
        var m = SequenceMatcher()
        for _ in 0..<2_000 {
            let (x, y) = PairGenerator.pair(&rng, kind: rng.below(PairGenerator.kinds))
            let (a, b) = (SimilarityText(x), SimilarityText(y))
            let full = m.matches(a, b, atLeast: 0)
            let need = 1 + rng.below(max(1, min(a.count, b.count) + 1))
            #expect((m.matches(a, b, atLeast: need) >= need) == (full >= need))
        }
    }

    @Test func bitIdenticalToDifflib() throws {
        var rng = SeededRandom(2026, 12)
        let total = 100_000
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(total)
        for n in 0..<total { pairs.append(PairGenerator.pair(&rng, kind: PairGenerator.mix(n))) }

        // CPython's ratios: two python3 processes, each over half of the pairs in one file
        // (texts as UTF-8 hex: no escaping), running while ours are computed.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rf-sm-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = """
        import sys, struct, difflib
        def bits(x): return struct.unpack('<Q', struct.pack('<d', x))[0]
        out = []
        for line in open(sys.argv[1], encoding='ascii'):
            x, _, y = line.rstrip('\\n').partition(' ')
            s = difflib.SequenceMatcher(None, bytes.fromhex(x).decode('utf-8'), bytes.fromhex(y).decode('utf-8'))
            out.append('%d %d %d' % (bits(s.ratio()), bits(s.quick_ratio()), bits(s.real_quick_ratio())))
        open(sys.argv[2], 'w').write('\\n'.join(out) + '\\n')
        """
        let scriptURL = dir.appendingPathComponent("ratios.py")
        try script.write(to: scriptURL, atomically: false, encoding: .utf8)
        let halves = [0..<total / 2, total / 2..<total]
        var processes: [Process] = []
        for (h, range) in halves.enumerated() {
            var text = ""
            text.reserveCapacity(range.count * 400)
            for n in range { text += hex(pairs[n].0) + " " + hex(pairs[n].1) + "\n" }
            let input = dir.appendingPathComponent("pairs\(h).txt")
            try text.write(to: input, atomically: false, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [scriptURL.path, input.path, dir.appendingPathComponent("out\(h).txt").path]
            try process.run()
            processes.append(process)
        }

        // Ours.
        var ours: [(UInt64, UInt64, UInt64)] = []
        ours.reserveCapacity(total)
        var m = SequenceMatcher()
        var autojunked = 0
        for (x, y) in pairs {
            let (a, b) = (SimilarityText(x), SimilarityText(y))
            if b.count >= 200 { autojunked += 1 }
            ours.append((m.ratio(a, b).bitPattern, m.quickRatio(a, b).bitPattern,
                         SequenceMatcher.realQuickRatio(a, b).bitPattern))
        }
        #expect(autojunked >= 25_000)

        var lines: [Substring] = []
        for (h, process) in processes.enumerated() {
            process.waitUntilExit()
            try #require(process.terminationStatus == 0)
            let text = try String(contentsOf: dir.appendingPathComponent("out\(h).txt"), encoding: .utf8)
            lines += text.split(separator: "\n")
        }
        try #require(lines.count == total)
        var mismatches = 0
        for (n, line) in lines.enumerated() {
            let f = line.split(separator: " ").compactMap { UInt64($0) }
            if f.count == 3, f[0] == ours[n].0, f[1] == ours[n].1, f[2] == ours[n].2 { continue }
            mismatches += 1
            if mismatches <= 5 {
                Issue.record("pair \(n) (\(pairs[n].0.debugDescription), \(pairs[n].1.debugDescription)): ours \(ours[n]), difflib \(line)")
            }
        }
        #expect(mismatches == 0)
    }

    func hex(_ s: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count * 2)
        for byte in s.utf8 { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Seeded pairs of texts for the ratio tests.
enum PairGenerator {
    static let kinds = 8

    /// The kind of pair `n` of the difflib comparison: 2/3 short pairs (difflib is fast on them),
    /// 26% observations of 200+ scalars, a few percent of the slow ones (repeated characters,
    /// long non-ASCII strings over small alphabets).
    static func mix(_ n: Int) -> Int {
        let m = n % 100
        switch m {
        case ..<68: return m % 3
        case ..<94: return 3 + m % 3
        case ..<97: return 6
        default: return 7
        }
    }
    static let words = ["a", "the", "you", "see", "apple", "tomato", "fridge", "drawer", "is", "open",
                        "closed", "on", "in", "room", "house", "countertop", "knife", "plate", "1", "2",
                        "3", "12", "café", "naïve", "über", "日本", "東京", "😀", "👩‍💻", "👍🏽", "e\u{301}",
                        "a\u{308}\u{323}", "Ω", "ß", "ﬁ", "\u{10348}"]
    static let alphabets: [[String]] = [
        ["a", "b"], ["a", "b", "c", "d"], ["x", "y", " ", "z", "."],
        ["é", "e", "\u{301}", "😀", "a"], ["日", "本", "語", " ", "a"],
    ]

    static func pick<T>(_ xs: [T], _ rng: inout SeededRandom) -> T { xs[rng.below(xs.count)] }

    static func sentence(_ rng: inout SeededRandom, scalars: Int) -> [String] {
        var out: [String] = []
        var n = 0
        while n < scalars {
            let w = rng.below(6) == 0 ? String(rng.below(1000)) : pick(words, &rng)
            out.append(w)
            n += w.unicodeScalars.count + 1
        }
        return out
    }

    /// Perturbs a word list: counters, swaps, drops, insertions, accents.
    static func perturb(_ ws: [String], _ rng: inout SeededRandom, edits: Int) -> [String] {
        var w = ws
        for _ in 0..<edits where !w.isEmpty {
            let i = rng.below(w.count)
            switch rng.below(5) {
            case 0: w[i] = String(rng.below(100))
            case 1: let j = rng.below(w.count); w.swapAt(i, j)
            case 2: w.remove(at: i)
            case 3: w.insert(pick(words, &rng), at: i)
            default: w[i] = w[i].replacingOccurrences(of: "e", with: "é").replacingOccurrences(of: "a", with: "à")
            }
        }
        return w
    }

    static func randomString(_ rng: inout SeededRandom, _ alphabet: [String], _ n: Int) -> String {
        var s = ""
        for _ in 0..<n { s += pick(alphabet, &rng) }
        return s
    }

    static func pair(_ rng: inout SeededRandom, kind: Int) -> (String, String) {
        switch kind {
        case 0, 1:  // short random strings over small alphabets (many ties)
            let alphabet = pick(alphabets, &rng)
            let x = randomString(&rng, alphabet, rng.below(25))
            let y = rng.below(3) == 0 ? randomString(&rng, alphabet, rng.below(25))
                : String(x.unicodeScalars.shuffled(using: &rng).prefix(rng.below(30)).map(Character.init))
            return (x, y)
        case 2:  // short sentences, perturbed
            let w = sentence(&rng, scalars: 5 + rng.below(60))
            return (perturb(w, &rng, edits: rng.below(4)).joined(separator: " "), w.joined(separator: " "))
        case 3, 4, 5:  // 200+ scalar observations, perturbed (autojunk on b)
            let w = sentence(&rng, scalars: 200 + rng.below(60))
            let x = perturb(w, &rng, edits: rng.below(8)).joined(separator: " ")
            let y = w.joined(separator: " ")
            return kind == 5 ? (y, x) : (x, y)
        case 6:  // repeated characters around the autojunk boundary
            let alphabet = pick(alphabets, &rng)
            let n = 190 + rng.below(25)
            var x = String(repeating: alphabet[0], count: n - rng.below(10))
            var y = String(repeating: alphabet[0], count: n)
            for _ in 0..<rng.below(12) { x += pick(alphabet, &rng) }
            for _ in 0..<rng.below(12) {
                let s = Array(y.unicodeScalars)
                let i = rng.below(s.count + 1)
                y = String(String.UnicodeScalarView(s[0..<i])) + pick(alphabet, &rng) + String(String.UnicodeScalarView(s[i...]))
            }
            return rng.below(2) == 0 ? (x, y) : (y, x)
        default:  // non-ASCII heavy, long and short, unrelated or perturbed
            let alphabet = pick(alphabets, &rng)
            let x = randomString(&rng, alphabet, 150 + rng.below(120))
            let y = rng.below(2) == 0 ? randomString(&rng, alphabet, 150 + rng.below(120))
                : perturb(x.map(String.init), &rng, edits: 1 + rng.below(10)).joined()
            return (x, y)
        }
    }
}
