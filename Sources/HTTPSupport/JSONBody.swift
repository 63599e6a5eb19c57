import Foundation
import Hummingbird

/// A JSON request body that refuses what it does not know: extra fields would be
/// ignored silently by a plain decoder, and a client would never learn its mistake.
public protocol StrictBody: Decodable {
    associatedtype CodingKeys: CodingKey & CaseIterable
}

extension StrictBody {
    public static var allowedFields: [String] { CodingKeys.allCases.map(\.stringValue) }
}

/// An empty body `{}` (or none), for actions that take no input.
public struct NoBody: StrictBody {
    public enum CodingKeys: String, CodingKey, CaseIterable { case _unused }
    public static var allowedFields: [String] { [] }
    public init(from decoder: any Decoder) throws {}
}

public enum JSONBody {
    public static let maxBytes = 64 * 1024

    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    public static func read(_ request: inout Request, upTo limit: Int = maxBytes) async throws -> Data {
        do {
            return Data(try await request.collectBody(upTo: limit).readableBytesView)
        } catch {
            throw Problem(.contentTooLarge, code: "too-large", title: "Body too large", detail: "this request's body is limited to \(limit) bytes")
        }
    }

    /// Decodes a body, or throws a 400 problem that names the field.
    public static func decode<T: StrictBody>(_ type: T.Type, from data: Data) throws -> T {
        // No body is an empty object: optional bodies may be left out, and a required
        // field then says it is missing.
        let data = data.isEmpty ? Data("{}".utf8) : data
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw Problem.badRequest("the body is not valid JSON")
        }
        guard let dict = object as? [String: Any] else { throw Problem.badRequest("the body must be a JSON object") }
        let allowed = Set(T.allowedFields)
        if let unknown = dict.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw Problem.badRequest("unknown field '\(unknown)'" + (allowed.isEmpty ? "; this request takes no fields" : "; allowed: \(allowed.sorted().joined(separator: ", "))"), field: unknown)
        }
        // Null for an optional field is accepted as absent; JSONSerialization keeps NSNull.
        do { return try decoder.decode(T.self, from: data) } catch let error as DecodingError {
            let (field, detail) = Problem.describe(error)
            throw Problem.badRequest(detail, field: field)
        }
    }

    public static func result<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> APIResult {
        APIResult(status: status, body: try encoder.encode(value))
    }
}

/// What a handler answers: a status and a JSON body, kept as bytes so that an
/// idempotent replay returns exactly the same answer.
public struct APIResult: Sendable {
    public var status: HTTPResponse.Status
    public var body: Data
    /// JSON, unless the route answers with a file.
    public var contentType: String
    /// Further headers (caching, say), beside the content type.
    public var headers: HTTPFields

    public init(status: HTTPResponse.Status, body: Data, contentType: String = "application/json", headers: HTTPFields = [:]) {
        self.status = status; self.body = body; self.contentType = contentType; self.headers = headers
    }

    public var response: Response {
        var fields = headers
        fields[.contentType] = contentType
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
