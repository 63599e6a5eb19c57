/// Why the token service refused a request. Each maps to one HTTP problem type at the
/// edge; `code` is stable for programs, `reason` is for people.
public enum TokenServiceError: Error, Equatable, CustomStringConvertible {
    /// A value is malformed or out of range.
    case invalid(field: String, reason: String)
    case notFound(String)
    /// The caller may not see or change this.
    case forbidden(String)
    /// The card cannot go into this wallet on this device (EMVCo eligibility).
    case ineligible(code: String, reason: String)
    /// The request conflicts with the current state (a lifecycle rule).
    case conflict(String)
    /// A wrong, expired or exhausted one-time code.
    case verificationFailed(reason: String, attemptsLeft: Int)
    /// The issuer's host did not answer properly.
    case issuerUnavailable(String)

    public var description: String {
        switch self {
        case .invalid(let field, let reason): "\(field): \(reason)"
        case .notFound(let what): "\(what) not found"
        case .forbidden(let why): why
        case .ineligible(_, let reason): reason
        case .conflict(let why): why
        case .verificationFailed(let reason, _): reason
        case .issuerUnavailable(let why): "issuer host unavailable: \(why)"
        }
    }
}
