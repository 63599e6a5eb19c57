import APIContract
import EMV

public enum LimitedUseKeys {
    /// Session keys for `count` ATCs from `firstATC`, for the token `number`, in the issuer
    /// master key's profile.
    public static func derive(issuerMasterKey: IssuerMasterKey, tokenNumber: String, firstATC: UInt16, count: Int) throws -> [ProvisioningPayload.LimitedUseKey] {
        let mk = issuerMasterKey.cardMasterKey(pan: try PAN(unchecked: tokenNumber))
        return (0..<count).compactMap { i in
            let value = Int(firstATC) + i
            guard value <= Int(UInt16.max) else { return nil }
            let sk = mk.sessionKey(atc: ApplicationTransactionCounter(UInt16(value)))
            return ProvisioningPayload.LimitedUseKey(atc: UInt16(value), key: sk.exportKeyMaterial().hex)
        }
    }
}
