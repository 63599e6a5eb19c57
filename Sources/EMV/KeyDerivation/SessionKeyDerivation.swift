/// EMV Book 2, Annex A1.3.1: the common session key derivation.
///
/// The card and the network derive the same session key from the card's master key
/// and the Application Transaction Counter, so a cryptogram cannot be replayed under
/// another ATC. With R = ATC ‖ 00…00 (one block), F1 is R with its third byte set to
/// F0 and F2 the same with 0F; SK is the leftmost k bits of ALG(MK)[F1] ‖ ALG(MK)[F2].
public enum SessionKeyDerivation {
    /// The diversification value R for application cryptograms: ATC then zeros.
    public static func diversification(atc: ApplicationTransactionCounter, blockSize: Int) -> [UInt8] {
        [UInt8(atc.value >> 8), UInt8(atc.value & 0xFF)] + [UInt8](repeating: 0, count: blockSize - 2)
    }

    /// TDES (k = 128, n = 64): both halves, odd parity, as an HSM returns them.
    public static func commonSessionKey(master: TDESKey, atc: ApplicationTransactionCounter) -> TDESKey {
        commonSessionKey(master: master, r: diversification(atc: atc, blockSize: 8))
    }

    /// TDES with any 8-byte diversification value (the A1.3.1 function in full).
    public static func commonSessionKey(master: TDESKey, r: [UInt8]) -> TDESKey {
        precondition(r.count == 8, "R is one DES block")
        var f1 = r, f2 = r
        f1[2] = 0xF0
        f2[2] = 0x0F
        let a = master.encrypt(block: UInt64(bigEndianBytes: f1))
        let b = master.encrypt(block: UInt64(bigEndianBytes: f2))
        return try! TDESKey(adjustingOddParity(a.bigEndianBytes + b.bigEndianBytes))
    }

    /// AES (n = 128): SK = leftmost k bits of AES(MK)[F1] ‖ AES(MK)[F2].
    public static func commonSessionKey(master: AESKey, atc: ApplicationTransactionCounter) -> AESKey {
        var f1 = diversification(atc: atc, blockSize: 16), f2 = f1
        f1[2] = 0xF0
        f2[2] = 0x0F
        var material = try! master.encrypt(block: f1)
        if master.byteCount > 16 { material += try! master.encrypt(block: f2) }
        return try! AESKey(Array(material.prefix(master.byteCount)))
    }

    /// SM4 (n = 128, k = 128), as the AES profile: SK = SM4(MK)[F1].
    public static func commonSessionKey(master: SM4Key, atc: ApplicationTransactionCounter) -> SM4Key {
        var f1 = diversification(atc: atc, blockSize: 16)
        f1[2] = 0xF0
        // One whole block in, one out: neither can fail.
        return try! SM4Key(try! master.encrypt(block: f1))
    }
}
