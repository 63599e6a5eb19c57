import EMV

extension Message {
    /// Field 55 parsed as BER-TLV (EMV Book 3 Annex B). Tags Passway does not know are
    /// kept, in order, so that they pass on unchanged.
    public func iccData() throws(DecodeError) -> [TLV]? {
        guard let raw = self[55] else { return nil }
        do {
            return try BERTLV.decode(raw)
        } catch {
            throw .iccData(TLVErrorDescription(text: error.description))
        }
    }

    /// Writes field 55 from TLV objects; refuses more than field 55 can hold.
    public mutating func setICCData(_ objects: [TLV]) throws(EncodeError) {
        let bytes = BERTLV.encode(objects)
        guard let max = MessageSpec.passway1987[55]?.length.max, bytes.count <= max else {
            throw .tooLong(field: 55, max: 255, actual: bytes.count)
        }
        self[55] = bytes
    }
}
