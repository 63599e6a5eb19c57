/// Which block cipher a card's application cryptogram uses, chosen per issuer:
///
/// - `tdes`: EMV's TDES profile. Master key by Option A (Option B beyond 16 digits),
///   common session key, ARQC by ISO/IEC 9797-1 MAC algorithm 3, ARPC by method 1
///   (tag 91: ARPC ‖ ARC, 10 bytes).
/// - `sm4`: PBOC 3.0's SM4 profile, EMV's AES profile with SM4 as the cipher. Master key
///   by Option C, session key SM4(MK)[ATC ‖ F0 ‖ 00…], ARQC the first 8 bytes of
///   SM4-CMAC, ARPC by method 2 (tag 91: ARPC ‖ CSU, 8 bytes).
public enum CryptogramProfile: String, Codable, Sendable, CaseIterable {
    case tdes, sm4
}

/// A 16-byte key of a profile's cipher: a double-length TDES key (odd parity is not
/// required) or an SM4 key.
public enum ProfileKey: Sendable, Equatable {
    case tdes(TDESKey)
    case sm4(SM4Key)

    public init(profile: CryptogramProfile, bytes: [UInt8]) throws(KeyError) {
        switch profile {
        case .tdes: self = .tdes(try TDESKey(bytes))
        case .sm4: self = .sm4(try SM4Key(bytes))
        }
    }

    public var profile: CryptogramProfile {
        switch self {
        case .tdes: .tdes
        case .sm4: .sm4
        }
    }

    public func exportKeyMaterial() -> [UInt8] {
        switch self {
        case .tdes(let key): key.exportKeyMaterial()
        case .sm4(let key): key.exportKeyMaterial()
        }
    }
}

/// An issuer master key for application cryptograms, in its profile.
public struct IssuerMasterKey: Sendable {
    public let key: ProfileKey

    public init(_ key: ProfileKey) { self.key = key }

    public init(profile: CryptogramProfile, bytes: [UInt8]) throws(KeyError) { key = try ProfileKey(profile: profile, bytes: bytes) }

    /// The card's (token's) master key: Option A/B for TDES, Option C for SM4.
    public func cardMasterKey(pan: PAN, sequenceNumber psn: PANSequenceNumber = .zero) -> CardMasterKey {
        switch key {
        case .tdes(let imk): CardMasterKey(.tdes(MasterKeyDerivation.derive(issuerMasterKey: imk, pan: pan, sequenceNumber: psn)))
        case .sm4(let imk): CardMasterKey(.sm4(MasterKeyDerivation.optionC(issuerMasterKey: imk, pan: pan, sequenceNumber: psn)))
        }
    }
}

/// A card's master key for application cryptograms, in its profile.
public struct CardMasterKey: Sendable {
    public let key: ProfileKey

    public init(_ key: ProfileKey) { self.key = key }

    /// The common session key of `atc` (EMV Book 2 A1.3.1).
    public func sessionKey(atc: ApplicationTransactionCounter) -> SessionKey {
        switch key {
        case .tdes(let mk): SessionKey(.tdes(SessionKeyDerivation.commonSessionKey(master: mk, atc: atc)))
        case .sm4(let mk): SessionKey(.sm4(SessionKeyDerivation.commonSessionKey(master: mk, atc: atc)))
        }
    }
}

/// A session key for one ATC, in its profile: what a device holds as a single-use key.
public struct SessionKey: Sendable, Equatable {
    public let key: ProfileKey

    public init(_ key: ProfileKey) { self.key = key }

    /// 16 bytes, as a device receives them.
    public init(profile: CryptogramProfile, bytes: [UInt8]) throws(KeyError) { key = try ProfileKey(profile: profile, bytes: bytes) }

    public init(profile: CryptogramProfile, hex: String) throws(KeyError) {
        let bytes: [UInt8]
        do { bytes = try Hex.decode(hex) } catch { throw .notHex(error) }
        try self.init(profile: profile, bytes: bytes)
    }

    public func exportKeyMaterial() -> [UInt8] { key.exportKeyMaterial() }

    /// The ARQC (or TC, AAC) over `data`, 8 bytes.
    public func cryptogram(_ data: [UInt8]) -> [UInt8] {
        switch key {
        case .tdes(let key): ApplicationCryptogram.generate(sessionKey: key, data: data)
        case .sm4(let key): ApplicationCryptogram.generate(sessionKey: key, data: data)
        }
    }

    /// Recomputes and compares in constant time.
    public func verify(_ cryptogram: [UInt8], data: [UInt8]) -> Bool {
        constantTimeEqual(self.cryptogram(data), cryptogram)
    }

    /// Tag 91, the issuer authentication data the card would check, for the answer `arc`
    /// (field 39's two characters): TDES, method 1, ARPC ‖ ARC; SM4, method 2, ARPC ‖ CSU,
    /// the CSU saying "approved online" (byte 2, bit 8) for 00, 08, 10 and 11.
    public func issuerAuthenticationData(arqc: [UInt8], responseCode arc: [UInt8]) throws(CryptogramError) -> [UInt8] {
        switch key {
        case .tdes(let key):
            return try AuthorisationResponseCryptogram.method1(sessionKey: key, arqc: arqc, responseCode: arc) + arc
        case .sm4(let key):
            let approved = [Array("00".utf8), Array("08".utf8), Array("10".utf8), Array("11".utf8)].contains(arc)
            let csu: [UInt8] = [0x00, approved ? 0x80 : 0x00, 0x00, 0x00]
            return try AuthorisationResponseCryptogram.method2(sessionKey: key, arqc: arqc, cardStatusUpdate: csu) + csu
        }
    }
}
