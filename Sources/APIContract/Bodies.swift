import Participants

// Request bodies of the Passway API (schemas in `openapi.yaml`). Each lists its fields in
// `CodingKeys`, so that the server can refuse a field it does not know. A new issuer,
// wallet or acquirer is sent as the participant itself (`Issuer`, `Wallet`, `Acquirer`).

public struct EnabledWallets: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case enabledWallets }
    public var enabledWallets: [String]
    public init(enabledWallets: [String]) { self.enabledWallets = enabledWallets }
}

/// `POST /v1/credentials`: a new API key for a participant (the network's own when `kind`
/// is `network`; otherwise `participantID` names it).
public struct NewCredential: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case kind, participantID }
    public var kind: String
    public var participantID: String?
    public init(kind: String, participantID: String?) { self.kind = kind; self.participantID = participantID }
}

/// What `POST /v1/credentials` answers: the key, shown once, and its id.
public struct CreatedCredential: Codable, Sendable {
    public var apiKey: String
    public var keyID: String
    public var kind: String
    public var participantID: String
    public init(apiKey: String, keyID: String, kind: String, participantID: String) {
        self.apiKey = apiKey; self.keyID = keyID; self.kind = kind; self.participantID = participantID
    }
}

/// `PUT /v1/issuers/{issuerID}/host-key`: the new key of the issuer's host (a rotation).
public struct HostKeyChange: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case hostKey }
    public var hostKey: String
    public init(hostKey: String) { self.hostKey = hostKey }
}

public struct MarketChange: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case state, reason }
    public var state: Market.State
    public var reason: String?
    public init(state: Market.State, reason: String?) { self.state = state; self.reason = reason }
}

public struct NewDevice: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case modelID, osVersion, country, publicKey }
    public var modelID: String
    public var osVersion: String
    public var country: String
    /// P-256, X9.63 uncompressed, base64.
    public var publicKey: String
    public init(modelID: String, osVersion: String, country: String, publicKey: String) {
        self.modelID = modelID; self.osVersion = osVersion; self.country = country; self.publicKey = publicKey
    }
}

public struct NewEnrollment: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case deviceID, pan, expiry, cvv2, riskScore, acceptedTerms }
    public var deviceID: String
    public var pan: String
    /// MM/YY as printed, or YYMM.
    public var expiry: String
    public var cvv2: String?
    public var riskScore: Int?
    /// The version of the card product's terms the cardholder accepted on the device.
    public var acceptedTerms: String?
    public init(deviceID: String, pan: String, expiry: String, cvv2: String?, riskScore: Int? = nil, acceptedTerms: String? = nil) {
        self.deviceID = deviceID; self.pan = pan; self.expiry = expiry; self.cvv2 = cvv2; self.riskScore = riskScore; self.acceptedTerms = acceptedTerms
    }
}

public struct CodeEntry: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case code }
    public var code: String
    public init(code: String) { self.code = code }
}

public struct LifecycleReason: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case reason }
    public var reason: String?
    public init(reason: String?) { self.reason = reason }
}

public struct CardRenewal: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case pan, newPan, newExpiry }
    public var pan: String
    public var newPan: String?
    public var newExpiry: String
    public init(pan: String, newPan: String?, newExpiry: String) { self.pan = pan; self.newPan = newPan; self.newExpiry = newExpiry }
}

public struct BulkProvisioning: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case walletID, deviceID, keysPerToken, cards }
    public struct Card: Codable, Sendable {
        public var pan: String
        /// MM/YY as printed.
        public var expiry: String
        public init(pan: String, expiry: String) { self.pan = pan; self.expiry = expiry }
    }
    public var walletID: String
    public var deviceID: String
    public var keysPerToken: Int
    public var cards: [Card]
    public init(walletID: String, deviceID: String, keysPerToken: Int, cards: [Card]) {
        self.walletID = walletID; self.deviceID = deviceID; self.keysPerToken = keysPerToken; self.cards = cards
    }
}

/// A wallet paying a merchant-presented QR code (`POST /v1/qr-payments`): the token, the
/// code as scanned, the amount when the code has none, and the device's chip data (the
/// ARQC and the CDOL1 data it covers, BER-TLV in hex).
public struct QRPayment: Codable, Sendable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case tokenID, payload, amount, chipData }
    public var tokenID: String
    public var payload: String
    /// As a QR code writes it ("150.00"): only for a code without an amount.
    public var amount: String?
    public var chipData: String
    public init(tokenID: String, payload: String, amount: String? = nil, chipData: String) {
        self.tokenID = tokenID; self.payload = payload; self.amount = amount; self.chipData = chipData
    }
}
