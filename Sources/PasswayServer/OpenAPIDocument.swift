import Foundation

/// The OpenAPI 3.1 document of the API, shipped as a resource and served verbatim.
public enum OpenAPIDocument {
    public static let text: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
              let text = try? String(contentsOf: url, encoding: .utf8) else {
            fatalError("openapi.yaml is missing from the PasswayServer bundle: the build is broken")
        }
        return text
    }()
}
