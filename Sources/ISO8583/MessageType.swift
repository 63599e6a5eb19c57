/// The MTI's third digit is the message function (ISO 8583:1987): 0 request, 1 request
/// response, 2 advice, 3 advice response. Every participant answers a request or advice
/// with the function one higher, and answers nothing else.
public enum MessageType {
    /// A request or an advice: something that is owed an answer.
    public static func isRequest(_ mti: String) -> Bool {
        let d = Array(mti.utf8)
        return d.count == 4 && d.allSatisfy { (0x30...0x39).contains($0) } && (d[2] == 0x30 || d[2] == 0x32)
    }

    /// The answer's MTI (0100 → 0110, 0420 → 0430); nil for what is not a request or advice.
    public static func response(to mti: String) -> String? {
        guard isRequest(mti) else { return nil }
        var d = Array(mti.utf8)
        d[2] += 1
        return String(decoding: d, as: UTF8.self)
    }
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
