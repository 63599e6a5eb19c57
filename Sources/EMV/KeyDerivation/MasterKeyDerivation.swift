import Crypto

/// EMV Book 2, Annex A1.4: deriving a card's (here: a token's) ICC master key from the
/// issuer master key, so that the issuer host never stores per-card keys.
public enum MasterKeyDerivation {
    /// Option A (A1.4.1): Y = the rightmost 16 digits of PAN ‖ PSN (left-padded with
    /// zeros), MK = TDES(IMK)[Y] ‖ TDES(IMK)[Y ⊕ FF..FF], odd parity.
    public static func optionA(issuerMasterKey imk: TDESKey, pan: PAN, sequenceNumber psn: PANSequenceNumber = .zero) -> TDESKey {
        let digits = pan.digits + psn.digits
        let y = packDigits(String(digits.suffix(16)).leftPadded(to: 16))
        return derive(imk, y)
    }

    /// Option B (A1.4.2), for PANs of more than 16 digits: SHA-1 of PAN ‖ PSN (odd
    /// number of digits padded with a leading zero), decimalised to 16 digits. For 16
    /// digits or fewer it is Option A, as the standard says.
    public static func optionB(issuerMasterKey imk: TDESKey, pan: PAN, sequenceNumber psn: PANSequenceNumber = .zero) -> TDESKey {
        guard pan.digits.count > 16 else { return optionA(issuerMasterKey: imk, pan: pan, sequenceNumber: psn) }
        var digits = pan.digits + psn.digits
        if digits.count % 2 == 1 { digits = "0" + digits }
        let digest = Array(Insecure.SHA1.hash(data: packDigits(digits)))
        let hex = Array(Hex.encode(digest).utf8)
        var result = hex.filter { $0 >= 0x30 && $0 <= 0x39 }.prefix(16)
        if result.count < 16 {
            // Decimalisation table: A..F become 0..5.
            let letters = hex.filter { $0 >= 0x41 && $0 <= 0x46 }.map { $0 - 0x41 + 0x30 }
            result.append(contentsOf: letters.prefix(16 - result.count))
        }
        return derive(imk, packDigits(String(decoding: result, as: UTF8.self)))
    }

    /// Option A for up to 16 digits, Option B beyond: what an issuer does by default.
    public static func derive(issuerMasterKey imk: TDESKey, pan: PAN, sequenceNumber psn: PANSequenceNumber = .zero) -> TDESKey {
        pan.digits.count > 16 ? optionB(issuerMasterKey: imk, pan: pan, sequenceNumber: psn)
                              : optionA(issuerMasterKey: imk, pan: pan, sequenceNumber: psn)
    }

    /// Option C (A1.4.3), for a 16-byte block cipher, here SM4 (PBOC 3.0's SM4 profile):
    /// Y = PAN ‖ PSN as BCD, left-padded with zero bytes to 16 (a PAN has at most 19
    /// digits, so Y always fits), MK = SM4(IMK)[Y], 16 bytes (k = n = 128).
    public static func optionC(issuerMasterKey imk: SM4Key, pan: PAN, sequenceNumber psn: PANSequenceNumber = .zero) -> SM4Key {
        let y = packDigits((pan.digits + psn.digits).leftPadded(to: 32))
        // One whole block in, one out: neither can fail.
        return try! SM4Key(try! imk.encrypt(block: y))
    }

    private static func derive(_ imk: TDESKey, _ y: [UInt8]) -> TDESKey {
        let block = UInt64(bigEndianBytes: y)
        let left = imk.encrypt(block: block)
        let right = imk.encrypt(block: ~block)
        // Sixteen bytes always make a valid double-length key.
        return try! TDESKey(adjustingOddParity(left.bigEndianBytes + right.bigEndianBytes))
    }
}

/// Packs an even number of decimal digits two to a byte (BCD).
func packDigits(_ digits: String) -> [UInt8] {
    let d = Array(digits.utf8)
    precondition(d.count % 2 == 0, "BCD packing needs an even number of digits")
    var out = [UInt8]()
    out.reserveCapacity(d.count / 2)
    var i = 0
    while i < d.count {
        out.append((d[i] - 0x30) << 4 | (d[i + 1] - 0x30))
        i += 2
    }
    return out
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
