import Crypto
import Foundation
import Vault
import SwiftASN1
import X509

/// A private certificate authority for a laptop or test setup (`passway pki`): an ECDSA
/// P-256 root that issues the participants' TLS certificates, so that the API, the
/// network's acquirer port and the bank's ISO 8583 port can run over TLS without a public
/// CA. RFC 5280 profile: the root has basic constraints CA (critical) and key usage
/// keyCertSign and cRLSign (critical); a participant's certificate has key usage
/// digitalSignature (critical), extended key usage serverAuth and clientAuth, and its
/// host names and IP addresses as subject alternative names.
///
/// Files: `ca.pem` and `ca.key` (the root), `NAME.pem` and `NAME.key` per participant;
/// every key file owner-only from the moment it exists (`SecretFile`).
public struct PrivateCA: Sendable {
    public let directory: String
    public init(directory: String) { self.directory = directory }

    public enum PKIError: Error, CustomStringConvertible {
        case exists(String)
        case missing(String)
        case invalid(String)
        public var description: String {
            switch self {
            case .exists(let path): "\(path) exists already: remove it or choose another --dir"
            case .missing(let path): "no \(path): run `passway pki ca --dir` first"
            case .invalid(let why): why
            }
        }
    }

    public var caCertificateFile: String { path("ca.pem") }
    public var caKeyFile: String { path("ca.key") }
    public func certificateFile(_ name: String) -> String { path("\(name).pem") }
    public func keyFile(_ name: String) -> String { path("\(name).key") }

    func path(_ file: String) -> String { (directory as NSString).appendingPathComponent(file) }

    /// Makes the root (valid `years` years); refuses to replace one.
    @discardableResult
    public func create(commonName: String = "Passway private CA", years: Int = 5, now: Date = Date()) throws -> Certificate {
        guard !FileManager.default.fileExists(atPath: caKeyFile) else { throw PKIError.exists(caKeyFile) }
        SecretFile.ownerOnlyFromNowOn()
        try SecretFile.makeDirectory(directory)
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let name = try DistinguishedName { CommonName(commonName) }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: key.publicKey)
        }
        let certificate = try Certificate(version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
                                          notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(years) * 365 * 86_400),
                                          issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
                                          issuerPrivateKey: key)
        try SecretFile.create(caKeyFile, contents: Array(try key.serializeAsPEM().pemString.utf8) + [0x0A])
        try write(caCertificateFile, try certificate.serializeAsPEM().pemString)
        return certificate
    }

    /// Issues `name`'s certificate for `hosts` (DNS names or IP addresses), valid `days`.
    @discardableResult
    public func issue(name: String, hosts: [String], days: Int = 365, now: Date = Date()) throws -> Certificate {
        guard name.range(of: "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", options: .regularExpression) != nil, name != "ca" else {
            throw PKIError.invalid("a participant's name: letters, digits, '.', '_' and '-', up to 63, not 'ca'")
        }
        guard !hosts.isEmpty else { throw PKIError.invalid("at least one --host (a DNS name or an IP address)") }
        guard let caKeyText = try? String(contentsOfFile: caKeyFile, encoding: .utf8),
              let caText = try? String(contentsOfFile: caCertificateFile, encoding: .utf8) else { throw PKIError.missing(caKeyFile) }
        let caKey = try Certificate.PrivateKey(pemEncoded: caKeyText)
        let ca = try Certificate(pemEncoded: caText)
        guard !FileManager.default.fileExists(atPath: keyFile(name)) else { throw PKIError.exists(keyFile(name)) }
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let names = try hosts.map(Self.generalName)
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
            SubjectAlternativeNames(names)
            SubjectKeyIdentifier(hash: key.publicKey)
            AuthorityKeyIdentifier(keyIdentifier: try ca.extensions.subjectKeyIdentifier?.keyIdentifier)
        }
        let certificate = try Certificate(version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
                                          notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(days) * 86_400),
                                          issuer: ca.subject, subject: try DistinguishedName { CommonName(name) },
                                          signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: caKey)
        SecretFile.ownerOnlyFromNowOn()
        try SecretFile.create(keyFile(name), contents: Array(try key.serializeAsPEM().pemString.utf8) + [0x0A])
        try write(certificateFile(name), try certificate.serializeAsPEM().pemString)
        return certificate
    }

    /// An IPv4 or IPv6 address as an iPAddress name, anything else as a dNSName.
    static func generalName(_ host: String) throws -> GeneralName {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return .ipAddress(ASN1OctetString(contentBytes: withUnsafeBytes(of: &v4) { Array($0) }[...])) }
        if inet_pton(AF_INET6, host, &v6) == 1 { return .ipAddress(ASN1OctetString(contentBytes: withUnsafeBytes(of: &v6) { Array($0) }[...])) }
        guard host.range(of: "^[A-Za-z0-9*]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$", options: .regularExpression) != nil else {
            throw PKIError.invalid("not a host name or an IP address: \(host)")
        }
        return .dnsName(host)
    }

    func write(_ file: String, _ pem: String) throws {
        try SecretFile.replace(file, contents: Array((pem + "\n").utf8))
    }
}
