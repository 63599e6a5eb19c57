/// Why one of Passway's services (participants, token service, wallet provider) refused a
/// request. Each case maps to one HTTP problem type at the edge; `code` is stable for
/// programs, `reason` is for people.
public enum ServiceError: Error, Equatable, CustomStringConvertible {
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

/// What a store says when a write cannot be done as asked. Every store of every room
/// (participants, tokens, devices) throws these.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    case duplicate(String)
    case notFound(String)
    /// Changed by someone else since it was read.
    case conflict(String)

    public var description: String {
        switch self {
        case .duplicate(let what): "already exists: \(what)"
        case .notFound(let what): "not found: \(what)"
        case .conflict(let what): "changed meanwhile: \(what)"
        }
    }
}
