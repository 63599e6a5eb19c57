import APIContract
import EMV

public enum LimitedUseKeys {
    /// Session keys for `count` ATCs from `firstATC`, for the token `number`.
    public static func derive(issuerMasterKey: TDESKey, tokenNumber: String, firstATC: UInt16, count: Int) throws -> [ProvisioningPayload.LimitedUseKey] {
        let mk = MasterKeyDerivation.derive(issuerMasterKey: issuerMasterKey, pan: try PAN(unchecked: tokenNumber))
        return (0..<count).compactMap { i in
            let value = Int(firstATC) + i
            guard value <= Int(UInt16.max) else { return nil }
            let atc = ApplicationTransactionCounter(UInt16(value))
            let sk = SessionKeyDerivation.commonSessionKey(master: mk, atc: atc)
            return ProvisioningPayload.LimitedUseKey(atc: atc.value, key: sk.exportKeyMaterial().hex)
        }
    }
}
