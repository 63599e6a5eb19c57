import Foundation
import Hummingbird

/// `Authorization: Bearer <token>` (RFC 6750), the scheme name in any case: RFC 9110
/// §11.1 makes it case-insensitive.
public enum BearerToken {
    public static func from(_ headers: HTTPFields) -> String? {
        guard let value = headers[.authorization] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

/// Every refusal a problem document: Hummingbird's own errors (no such path, a body too
/// large) become RFC 9457 problems like the servers' own.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let problem: Problem = switch error.status {
            case .notFound: .notFound("no such path: \(request.method.rawValue) \(request.uri.path)")
            case .methodNotAllowed: Problem(.methodNotAllowed, code: "method-not-allowed", title: "Method not allowed",
                                            detail: "\(request.method.rawValue) is not allowed on \(request.uri.path)")
            case .contentTooLarge: Problem(.contentTooLarge, code: "too-large", title: "Request too large", detail: error.body ?? "the body is too large")
            default: Problem(error.status, code: "http-\(error.status.code)", title: error.status.reasonPhrase,
                             detail: error.body ?? error.status.reasonPhrase)
            }
            return problem.response()
        }
    }
}

/// A method the document does not list for a path: 405, with the ones it does in `Allow`
/// (HEAD goes with GET), rather than the router's bare 404.
public enum MethodNotAllowed {
    /// `declared`: each path as the router spells it (`/banks/:bank`), with its methods.
    public static func register<Context: RequestContext>(on router: Router<Context>, declared: [String: [HTTPRequest.Method]]) {
        for (path, methods) in declared {
            let allow = methods.map(\.rawValue).joined(separator: ", ")
            var others: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .options, .trace, .head]
            if let query = HTTPRequest.Method("QUERY") { others.append(query) }
            others.removeAll { methods.contains($0) || (methods.contains(.get) && $0 == .head) }
            for method in others {
                router.on(RouterPath(path), method: method) { _, _ in
                    var response = Problem(.methodNotAllowed, code: "method-not-allowed", title: "Method not allowed",
                                           detail: "\(path) accepts \(allow)").response()
                    response.headers[.allow] = allow
                    return response
                }
            }
        }
    }
}
