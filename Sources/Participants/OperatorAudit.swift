import Foundation

/// One change the network operator asked for, through the API or the console: who (the
/// key id of the credential), when, which route, and how it ended. No request body is
/// kept (bodies can carry card numbers), only what the path names.
public struct OperatorAuditEntry: Codable, Sendable, Equatable {
    /// The entry's place in the trail, given by the store.
    public var seq: Int64
    public var at: Date
    /// The operator's credential, by its key id (never the key).
    public var keyID: String
    public var method: String
    public var path: String
    /// `api` or `console`.
    public var via: String
    /// The HTTP status it was answered with.
    public var status: Int
    /// The problem's code when it was refused.
    public var problem: String?

    public init(seq: Int64 = 0, at: Date, keyID: String, method: String, path: String, via: String, status: Int, problem: String? = nil) {
        self.seq = seq; self.at = at; self.keyID = keyID; self.method = method; self.path = path; self.via = via
        self.status = status; self.problem = problem
    }
}
