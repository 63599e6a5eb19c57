/// Application cryptograms (ARQC, TC, AAC) as EMV Book 2 §8.1 computes them: a MAC
/// under the session key of the transaction's ATC over the data the card was given
/// (CDOL1) and its own data.
public enum ApplicationCryptogram {
    /// TDES profile: ISO/IEC 9797-1 MAC algorithm 3, padding method 2, 8 bytes
    /// (EMV Book 2 A1.2.1).
    public static func generate(sessionKey: TDESKey, data: [UInt8]) -> [UInt8] {
        ISO9797.macAlgorithm3(key: sessionKey, data: data, padding: .method2)
    }

    /// AES profile: AES-CMAC (ISO/IEC 9797-1 MAC algorithm 5) truncated to 8 bytes
    /// (EMV Book 2 A1.2.2).
    public static func generate(sessionKey: AESKey, data: [UInt8]) -> [UInt8] {
        Array(sessionKey.cmac(data).prefix(8))
    }

    /// SM4 profile (PBOC 3.0), as the AES profile with SM4 as the block cipher: SM4-CMAC
    /// truncated to 8 bytes.
    public static func generate(sessionKey: SM4Key, data: [UInt8]) -> [UInt8] {
        Array(sessionKey.cmac(data).prefix(8))
    }

    public static func verify(_ cryptogram: [UInt8], sessionKey: SM4Key, data: [UInt8]) -> Bool {
        constantTimeEqual(generate(sessionKey: sessionKey, data: data), cryptogram)
    }

    /// Recomputes and compares in constant time.
    public static func verify(_ cryptogram: [UInt8], sessionKey: TDESKey, data: [UInt8]) -> Bool {
        constantTimeEqual(generate(sessionKey: sessionKey, data: data), cryptogram)
    }

    public static func verify(_ cryptogram: [UInt8], sessionKey: AESKey, data: [UInt8]) -> Bool {
        constantTimeEqual(generate(sessionKey: sessionKey, data: data), cryptogram)
    }
}

/// The Authorisation Response Cryptogram with which the issuer proves the answer
/// to the card (EMV Book 2 §8.2).
public enum AuthorisationResponseCryptogram {
    /// Method 1 (§8.2.1): ARPC = TDES(SK)[ARQC ⊕ (ARC ‖ 00 00 00 00 00 00)], 8 bytes.
    public static func method1(sessionKey: TDESKey, arqc: [UInt8], responseCode arc: [UInt8]) throws(CryptogramError) -> [UInt8] {
        guard arqc.count == 8 else { throw .wrongLength(field: "ARQC", expected: 8, actual: arqc.count) }
        guard arc.count == 2 else { throw .wrongLength(field: "ARC", expected: 2, actual: arc.count) }
        let y = UInt64(bigEndianBytes: arqc) ^ (UInt64(bigEndianBytes: arc) << 48)
        return sessionKey.encrypt(block: y).bigEndianBytes
    }

    /// Method 2 (§8.2.2): ARPC = MAC algorithm 3, padding 2, over ARQC ‖ CSU ‖
    /// proprietary authentication data, leftmost 4 bytes.
    public static func method2(sessionKey: TDESKey, arqc: [UInt8], cardStatusUpdate csu: [UInt8], proprietaryAuthenticationData pad: [UInt8] = []) throws(CryptogramError) -> [UInt8] {
        try checkMethod2(arqc, csu, pad)
        return ISO9797.macAlgorithm3(key: sessionKey, data: arqc + csu + pad, padding: .method2, length: 4)
    }

    /// Method 2 for the SM4 profile: SM4-CMAC over ARQC ‖ CSU ‖ proprietary
    /// authentication data, leftmost 4 bytes (as the AES profile with AES-CMAC).
    public static func method2(sessionKey: SM4Key, arqc: [UInt8], cardStatusUpdate csu: [UInt8], proprietaryAuthenticationData pad: [UInt8] = []) throws(CryptogramError) -> [UInt8] {
        try checkMethod2(arqc, csu, pad)
        return Array(sessionKey.cmac(arqc + csu + pad).prefix(4))
    }

    /// Method 2 for the AES profile: AES-CMAC over ARQC ‖ CSU ‖ proprietary
    /// authentication data, leftmost 4 bytes.
    public static func method2(sessionKey: AESKey, arqc: [UInt8], cardStatusUpdate csu: [UInt8], proprietaryAuthenticationData pad: [UInt8] = []) throws(CryptogramError) -> [UInt8] {
        try checkMethod2(arqc, csu, pad)
        return Array(sessionKey.cmac(arqc + csu + pad).prefix(4))
    }

    private static func checkMethod2(_ arqc: [UInt8], _ csu: [UInt8], _ pad: [UInt8]) throws(CryptogramError) {
        guard arqc.count == 8 else { throw .wrongLength(field: "ARQC", expected: 8, actual: arqc.count) }
        guard csu.count == 4 else { throw .wrongLength(field: "CSU", expected: 4, actual: csu.count) }
        guard pad.count <= 8 else { throw .wrongLength(field: "proprietary authentication data", expected: 8, actual: pad.count) }
    }
}

public enum CryptogramError: Error, Equatable, CustomStringConvertible {
    case wrongLength(field: String, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .wrongLength(let field, let expected, let actual):
            "\(field) must be \(expected) bytes\(field.contains("proprietary") ? " at most" : ""), got \(actual)"
        }
    }
}

@inline(__always)
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in a.indices { diff |= a[i] ^ b[i] }
    return diff == 0
}
