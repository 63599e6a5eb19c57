import EMV
import ISO8583Transport

extension ISO8583Client.SignOn {
    /// What an acquirer does with what the network delivered at onboarding: the zone
    /// master key (64 hex digits, `POST /v1/acquirers`) opens the TR-31 key block of its
    /// MAC key (`POST /v1/acquirers/{id}/mac-key`), whose header says the algorithm (`T`
    /// ISO 9797-1 MAC algorithm 3, `A` AES-CMAC).
    public init(institutionID: String, zoneMasterKey: String, keyBlock: String) throws {
        let (header, key, _) = try TR31.unwrap(keyBlock, kbpk: try Hex.decode(zoneMasterKey))
        guard header.modeOfUse == "C" || header.modeOfUse == "G", ["M3", "M6"].contains(header.keyUsage) else {
            throw NotAMACKey(description: "the key block holds no MAC key (usage \(header.keyUsage), mode \(header.modeOfUse))")
        }
        self.init(institutionID: institutionID, key: try MACKey(algorithm: header.algorithm, bytes: key))
    }
}

public struct NotAMACKey: Error, CustomStringConvertible {
    public let description: String
}
