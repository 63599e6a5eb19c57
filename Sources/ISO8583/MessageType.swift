/// The MTI's third digit is the message function (ISO 8583:1987): 0 request, 1 request
/// response, 2 advice, 3 advice response. Every participant answers a request or advice
/// with the function one higher, and answers nothing else.
public enum MessageType {
    /// A request or an advice: something that is owed an answer.
    public static func isRequest(_ mti: String) -> Bool {
        let d = Array(mti.utf8)
        return d.count == 4 && d.allSatisfy { (0x30...0x39).contains($0) } && (d[2] == 0x30 || d[2] == 0x32)
    }

    /// The answer's MTI (0100 → 0110, 0420 → 0430, a repeat as its original: 0101 → 0110,
    /// 0421 → 0430); nil for what is not a request or advice.
    public static func response(to mti: String) -> String? {
        guard isRequest(mti) else { return nil }
        var d = Array(original(of: mti).utf8)
        d[2] += 1
        return String(decoding: d, as: UTF8.self)
    }

    /// The fourth digit is the origin, odd for a repeat (1987: 0 acquirer, 1 acquirer
    /// repeat, 2 issuer, 3 issuer repeat, 4 other, 5 other repeat): the MTI of the message a
    /// repeat repeats (0101 → 0100, 0401 → 0400, 0421 → 0420); others unchanged.
    public static func original(of mti: String) -> String {
        var d = Array(mti.utf8)
        guard d.count == 4, [0x31, 0x33, 0x35].contains(d[3]) else { return mti }
        d[3] -= 1
        return String(decoding: d, as: UTF8.self)
    }

    /// The MTI of a repeat of this message (0100 → 0101, 0420 → 0421); a repeat's own MTI
    /// and anything that is not four digits unchanged.
    public static func repeatOf(_ mti: String) -> String {
        var d = Array(mti.utf8)
        guard d.count == 4, [0x30, 0x32, 0x34].contains(d[3]) else { return mti }
        d[3] += 1
        return String(decoding: d, as: UTF8.self)
    }

    /// Whether the MTI is a repeat (0101, 0401, 0421…).
    public static func isRepeat(_ mti: String) -> Bool { original(of: mti) != mti }
}

extension Message {
    /// The answer to this request: the response MTI, `fields` copied where present, and
    /// field 39. A message that is not a request keeps its MTI.
    public func answer(_ code: ResponseCode, echoing fields: [Int]) -> Message {
        var answer = Message(mti: MessageType.response(to: mti) ?? mti)
        for f in fields where self[f] != nil { answer[f] = self[f] }
        answer.set(39, code.rawValue)
        return answer
    }
}
