import Crypto

/// Identifiers and secrets drawn from the crypto library's generator.
public enum SecureRandom {
    /// Random letters and digits, each equally likely: bytes from the crypto library's
    /// generator (one draw per id, not a system call per character as
    /// `SystemRandomNumberGenerator` makes on Linux), those at or above the largest multiple
    /// of the alphabet's size refused so that `byte % size` has no bias.
    public static func alphanumeric(_ count: Int, uppercase: Bool = false) -> String {
        let alphabet = Array((uppercase ? "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").utf8)
        let limit = 256 - 256 % alphabet.count
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            // A quarter more than needed: refusals are under 4% of bytes for either alphabet.
            SymmetricKey(size: SymmetricKeySize(bitCount: (count - out.count + count / 4 + 1) * 8)).withUnsafeBytes { random in
                for byte in random where Int(byte) < limit && out.count < count { out.append(alphabet[Int(byte) % alphabet.count]) }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether two strings are equal, in a time that depends on their lengths only (for
    /// comparing hashes of secrets).
    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
