/// JSON string literals of arbitrary text.
package enum JSONText {
    /// `text` as a quoted JSON string (escaping quotes, backslashes and control characters).
    package static func quoted(_ text: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        appendEscaped(text.utf8, to: &out)
        out.append(0x22)
        return out
    }

    /// Appends the bytes of a string with JSON escapes (no quotes).
    static func appendEscaped<S: Sequence>(_ bytes: S, to out: inout [UInt8]) where S.Element == UInt8 {
        let hex = Array("0123456789abcdef".utf8)
        for byte in bytes {
            switch byte {
            case 0x22: out.append(0x5C); out.append(0x22)
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(0x6E)
            case 0x0D: out.append(0x5C); out.append(0x72)
            case 0x09: out.append(0x5C); out.append(0x74)
            case 0..<0x20:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
    }
}
