import Foundation

/// A wallet as a token requestor (EMVCo Payment Tokenisation Framework): its 11-digit
/// token requestor ID is carried with every token it holds.
public struct Wallet: Codable, Sendable, Equatable {
    /// Its JSON, as the API takes and shows it (`POST /v1/wallets`).
    public enum CodingKeys: String, CodingKey, CaseIterable { case id, name, tokenRequestorID }
    public var id: String
    public var name: String
    public var tokenRequestorID: String

    public init(id: String, name: String, tokenRequestorID: String) {
        self.id = id; self.name = name; self.tokenRequestorID = tokenRequestorID
    }
}
