import ISO8583
import Participants

/// The network's side of its issuer connections: send a message to an issuer's host
/// and wait for its answer, within a time limit. Socket code lives in `PasswayServer`.
public protocol IssuerLinks: Sendable {
    func send(_ message: Message, to issuer: Issuer) async throws(IssuerLinkError) -> Message
}

public enum IssuerLinkError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No connection could be made (host down, refused).
    case unavailable(String)
    /// Sent (or being written), and the connection closed before the answer.
    case lost(String)
    /// Sent, but no answer within the time limit.
    case timedOut(after: Duration)
    /// Sent, and answered with a MAC that does not verify (or an approval without one):
    /// not believed, and the issuer may have decided on it.
    case unauthentic(String)

    /// The message was sent and the issuer may have decided on it: it is owed a reversal.
    public var mayHaveReachedIssuer: Bool {
        switch self {
        case .timedOut, .unauthentic, .lost: true
        case .unavailable: false
        }
    }

    public var description: String {
        switch self {
        case .unauthentic(let why): "issuer host's answer not believed: \(why)"
        case .unavailable(let why): "issuer host unavailable: \(why)"
        case .lost(let why): "issuer host connection lost before its answer: \(why)"
        case .timedOut(let limit): "issuer host did not answer within \(Int((limit / .milliseconds(1)).rounded())) ms"
        }
    }
}
