import Crypto
import EMV
import Foundation
import APIContract
import EMVQR
import ISO8583

/// The wallet app on a phone or watch, as far as payments go: its P-256 key pair (the
/// private half never leaves the device), the tokens provisioned to it, and their
/// single-use session keys, one per ATC, used once each and replenished when low.
public struct DeviceWallet: Codable, Sendable {
    public struct StoredToken: Codable, Sendable, Equatable {
        public var tokenID: String
        public var tokenNumber: String
        public var expiry: String
        public var par: String
        public var status: String
        public var keys: [ProvisioningPayload.LimitedUseKey]
        /// How its keys make a cryptogram: `tdes` (when absent, as in state files from
        /// before profiles) or `sm4`.
        public var cryptogramProfile: String? = nil

        public var profile: CryptogramProfile { cryptogramProfile.flatMap(CryptogramProfile.init(rawValue:)) ?? .tdes }

        /// The session key of one of its single-use keys.
        public func sessionKey(_ key: ProvisioningPayload.LimitedUseKey) throws -> SessionKey {
            try SessionKey(profile: profile, hex: key.key)
        }

        public var masked: String { String(tokenNumber.prefix(6)) + "******" + String(tokenNumber.suffix(4)) }
    }

    /// Raw P-256 private key, base64. Kept only in the device's own state file.
    var privateKey: String
    public var deviceID: String?
    public var modelID: String
    public var osVersion: String
    public var country: String
    public var tokens: [StoredToken]

    /// Replenish when fewer keys than this remain.
    public static let lowWaterMark = 3

    public init(modelID: String, osVersion: String, country: String) {
        privateKey = P256.KeyAgreement.PrivateKey().rawRepresentation.base64EncodedString()
        self.modelID = modelID; self.osVersion = osVersion; self.country = country
        deviceID = nil
        tokens = []
    }

    var key: P256.KeyAgreement.PrivateKey {
        get throws { try P256.KeyAgreement.PrivateKey(rawRepresentation: Data(base64Encoded: privateKey) ?? Data()) }
    }

    /// The public key to register, X9.63 uncompressed, base64.
    public var publicKey: String {
        get throws { try key.publicKey.x963Representation.base64EncodedString() }
    }

    /// Opens a provisioning or replenishment and keeps its keys.
    @discardableResult
    public mutating func receive(_ sealed: SealedProvisioning, status: String = "active") throws -> StoredToken {
        try keep(try sealed.open(with: key), status: status)
    }

    /// Many at once (a bulk provisioning): one key agreement per ephemeral key they share.
    public mutating func receive(all sealed: [SealedProvisioning]) throws -> [StoredToken] {
        try SealedProvisioning.open(sealed, with: key).map { try keep($0, status: "active") }
    }

    private mutating func keep(_ payload: ProvisioningPayload, status: String) throws -> StoredToken {
        if let profile = payload.cryptogramProfile, CryptogramProfile(rawValue: profile) == nil {
            throw WalletError.unknownProfile(profile)
        }
        if let i = tokens.firstIndex(where: { $0.tokenID == payload.tokenID }) {
            let known = Set(tokens[i].keys.map(\.atc))
            tokens[i].keys += payload.keys.filter { !known.contains($0.atc) }
            tokens[i].status = status
            return tokens[i]
        }
        let token = StoredToken(tokenID: payload.tokenID, tokenNumber: payload.tokenNumber, expiry: payload.expiry, par: payload.par,
                                status: status, keys: payload.keys, cryptogramProfile: payload.cryptogramProfile)
        tokens.append(token)
        return token
    }

    /// Takes the key of the lowest unused ATC: it is deleted as it is used.
    public mutating func nextKey(tokenID: String) -> ProvisioningPayload.LimitedUseKey? {
        guard let i = tokens.firstIndex(where: { $0.tokenID == tokenID }), !tokens[i].keys.isEmpty else { return nil }
        tokens[i].keys.sort { $0.atc < $1.atc }
        return tokens[i].keys.removeFirst()
    }

    /// What the HCE applet answers to GENERATE AC: the ARQC over the terminal's data
    /// (the Passway CDOL1) under the single-use key of the next ATC, which is then gone.
    public mutating func generateARQC(tokenID: String, terminal: (ApplicationTransactionCounter) -> CryptogramInput) throws -> (input: CryptogramInput, arqc: [UInt8])? {
        guard let stored = tokens.first(where: { $0.tokenID == tokenID }), let key = nextKey(tokenID: tokenID) else { return nil }
        let input = terminal(ApplicationTransactionCounter(key.atc))
        return (input, try stored.sessionKey(key).cryptogram(input.bytes))
    }

    /// Paying a merchant-presented QR code: the chip data the wallet sends with it (`POST
    /// /v1/qr-payments`), an ARQC under the next single-use key over the Passway CDOL1 with
    /// the code's amount (or the one entered), currency and country, today's date (UTC)
    /// and the device's own unpredictable number. Nil when the token has no key left.
    public mutating func chipData(paying qr: MerchantQR, amountMinor: Int64, tokenID: String, date: Date = Date(),
                                  unpredictable: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }) throws -> [TLV]? {
        guard let currency = UInt16(qr.currency), amountMinor >= 0 else { throw WalletError.unreadableCode("no numeric currency") }
        let country = Country.numeric(alpha2: qr.country) ?? 0
        return try cryptogram(tokenID: tokenID, amountMinor: UInt64(amountMinor), country: country, currency: currency, date: date,
                              unpredictable: unpredictable)
    }

    /// A consumer-presented QR code (EMV QRCPS, base64 BER-TLV) for the token: its track 2
    /// equivalent data and an ARQC under the next single-use key, made before the amount
    /// is known (9F02 and 5F2A zero, 9F1A the device's country). Nil when no key is left.
    public mutating func consumerQR(tokenID: String, date: Date = Date(),
                                    unpredictable: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }) throws -> String? {
        guard let token = tokens.first(where: { $0.tokenID == tokenID }), token.status == "active" else { return nil }
        guard let chip = try cryptogram(tokenID: tokenID, amountMinor: 0, country: Country.numeric(alpha2: country) ?? 0, currency: 0, date: date,
                                        unpredictable: unpredictable) else { return nil }
        let track2 = try Track2EquivalentData(pan: try PAN(token.tokenNumber), expiry: token.expiry, serviceCode: "201")
        return ConsumerQR(aid: ContactlessApplet.aid, label: ContactlessApplet.label, track2: track2.bytes, cryptogramData: chip).payload()
    }

    /// The CDOL1 objects and the card's own (9F26, 9F27, 9F10) for one ATC.
    private mutating func cryptogram(tokenID: String, amountMinor: UInt64, country: UInt16, currency: UInt16, date: Date,
                                     unpredictable: [UInt8]) throws -> [TLV]? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .gmt
        formatter.dateFormat = "yyMMdd"
        guard let (input, arqc) = try generateARQC(tokenID: tokenID, terminal: { atc in
            CryptogramInput(amountAuthorised: amountMinor, terminalCountryCode: country, transactionCurrencyCode: currency,
                            transactionDate: formatter.string(from: date), unpredictableNumber: unpredictable, atc: atc)
        }) else { return nil }
        return input.objects + [TLV(.applicationCryptogram, arqc), TLV(.cryptogramInformationData, [0x80]),
                                TLV(.issuerApplicationData, ContactlessApplet.issuerApplicationData)]
    }

    public func needsKeys(tokenID: String) -> Bool {
        (tokens.first { $0.tokenID == tokenID }?.keys.count ?? 0) < Self.lowWaterMark
    }
}

public enum WalletError: Error, CustomStringConvertible {
    case unknownProfile(String)
    case unreadableCode(String)

    public var description: String {
        switch self {
        case .unknownProfile(let name): "the token's cryptogram profile \"\(name.prefix(20))\" is not one this wallet knows (tdes, sm4)"
        case .unreadableCode(let why): "the QR code cannot be paid: \(why)"
        }
    }
}
