import NIOSSL

/// TLS for the ISO 8583 listeners and clients (and the API), from PEM files: a listener's
/// certificate chain and private key, a client's trusted CA. TLS 1.2 at least.
public enum TLSFiles {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// A listener's certificate (chain) and private key files, PEM.
    public struct Server: Sendable {
        public var certificateFile: String
        public var keyFile: String
        public init(certificateFile: String, keyFile: String) { self.certificateFile = certificateFile; self.keyFile = keyFile }
        public func configuration() throws(Failure) -> TLSConfiguration {
            try TLSFiles.serverConfiguration(certificate: certificateFile, key: keyFile)
        }
    }

    /// A listener's TLS configuration: its certificate (chain) and private key, PEM.
    public static func serverConfiguration(certificate: String, key: String) throws(Failure) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let privateKey: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMFile(certificate) } catch {
            throw Failure(description: "\(certificate): not a PEM certificate (\(error))")
        }
        guard !chain.isEmpty else { throw Failure(description: "\(certificate): no certificate in it") }
        do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
            throw Failure(description: "\(key): not a PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    /// A client's TLS configuration: the server's certificate must chain to the CA in
    /// `caFile` (the system's roots when nil) and name the host or IP address connected to.
    public static func clientConfiguration(trusting caFile: String?) throws(Failure) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile {
            do {
                let roots = try NIOSSLCertificate.fromPEMFile(caFile)
                guard !roots.isEmpty else { throw Failure(description: "\(caFile): no certificate in it") }
                configuration.trustRoots = .certificates(roots)
            } catch let failure as Failure { throw failure } catch {
                throw Failure(description: "\(caFile): not a PEM certificate (\(error))")
            }
        }
        return configuration
    }

    public static func context(_ configuration: TLSConfiguration) throws(Failure) -> NIOSSLContext {
        do { return try NIOSSLContext(configuration: configuration) } catch { throw Failure(description: "TLS: \(error)") }
    }
}
