import Foundation
import Hummingbird

/// An RFC 9457 problem: what went wrong, in a form a developer can act on. Every error
/// the API returns is one of these, as `application/problem+json`.
public struct Problem: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    /// A stable identifier of the kind of problem (`https://passway.dev/problems/<code>`).
    public let code: String
    public let title: String
    public let detail: String
    public var extra: [String: String] = [:]

    public init(_ status: HTTPResponse.Status, code: String, title: String, detail: String, extra: [String: String] = [:]) {
        self.status = status; self.code = code; self.title = title; self.detail = detail; self.extra = extra
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    public func response() -> Response {
        var object: [String: Any] = ["type": "https://passway.dev/problems/\(code)", "title": title, "status": Int(status.code), "detail": detail]
        for (k, v) in extra { object[k] = v }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/problem+json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    public static func badRequest(_ detail: String, field: String? = nil) -> Problem {
        Problem(.badRequest, code: "invalid-request", title: "The request is not valid", detail: detail, extra: field.map { ["field": $0] } ?? [:])
    }
    public static let unauthorized = Problem(.unauthorized, code: "unauthorized", title: "Authentication required",
                                      detail: "send 'Authorization: Bearer <API key>' with the key issued to your institution")
    public static func forbidden(_ detail: String) -> Problem { Problem(.forbidden, code: "forbidden", title: "Not allowed for this participant", detail: detail) }
    public static func notFound(_ detail: String) -> Problem { Problem(.notFound, code: "not-found", title: "Not found", detail: detail) }

    /// The problem an error is, when it is one this layer knows: a `Problem`, or a body
    /// that did not decode. Each server maps its domain's errors before asking this.
    public static func from(_ error: any Error) -> Problem? {
        switch error {
        case let p as Problem: p
        case let e as DecodingError: .badRequest(describe(e).detail, field: describe(e).field)
        default: nil
        }
    }

    /// 500: what every server answers for an error it did not expect (logged by type only).
    public static let internalError = Problem(.internalServerError, code: "internal", title: "Internal error",
                                              detail: "the platform could not complete this request; nothing was changed")

    public static func describe(_ error: DecodingError) -> (field: String?, detail: String) {
        func path(_ keys: [any CodingKey]) -> String { keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let ctx): return (path(ctx.codingPath + [key]), "missing field '\(path(ctx.codingPath + [key]))'")
        case .typeMismatch(let type, let ctx): return (path(ctx.codingPath), "'\(path(ctx.codingPath))' must be \(jsonTypeName(type))")
        case .valueNotFound(let type, let ctx): return (path(ctx.codingPath), "'\(path(ctx.codingPath))' must be \(jsonTypeName(type)), not null")
        case .dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? (nil, "the body is not valid JSON") : (path(ctx.codingPath), "'\(path(ctx.codingPath))' is not a valid value")
        @unknown default: return (nil, "the body does not match the expected shape")
        }
    }

    static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is UInt16.Type: "an integer"
        case is Bool.Type: "true or false"
        case is [String].Type: "an array of strings"
        default: "of another type"
        }
    }
}
