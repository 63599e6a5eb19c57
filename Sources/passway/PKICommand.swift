import ArgumentParser
import Foundation
import PKI

/// `passway pki`: a private CA and the participants' TLS certificates, for a laptop or a
/// test network (a production network uses the CAs its participants agree on).
struct PKICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki", abstract: "A private CA and TLS certificates for the API and the ISO 8583 ports (a laptop setup).",
        subcommands: [CA.self, Issue.self])

    struct CA: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the private CA: ca.pem and ca.key (owner-only), ECDSA P-256.")
        @Option(help: "Where the CA and the certificates live.") var dir = "pki"
        @Option(help: "The CA's common name.") var name = "Passway private CA"
        @Option(help: "Years the CA is valid (1 to 20).") var years = 5

        func validate() throws { guard (1...20).contains(years) else { throw ValidationError("--years: 1 to 20") } }

        func run() throws {
            let ca = PrivateCA(directory: dir)
            do { try ca.create(commonName: name, years: years) } catch { throw CLIError("\(error)") }
            print("CA certificate \(ca.caCertificateFile) (give it to whoever connects: --tls-ca), its key \(ca.caKeyFile) (owner-only)")
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue NAME.pem and NAME.key (owner-only) for a listener, signed by the CA.")
        @Option(help: "Where the CA and the certificates live.") var dir = "pki"
        @Option(help: "The participant's name: the files' name and the certificate's common name.") var name: String
        @Option(help: "A host name or IP address the certificate is for (repeatable).") var host: [String] = []
        @Option(help: "Days the certificate is valid (1 to 825).") var days = 365

        func validate() throws { guard (1...825).contains(days) else { throw ValidationError("--days: 1 to 825") } }

        func run() throws {
            let ca = PrivateCA(directory: dir)
            do { try ca.issue(name: name, hosts: host, days: days) } catch { throw CLIError("\(error)") }
            print("certificate \(ca.certificateFile(name)) for \(host.joined(separator: ", ")), its key \(ca.keyFile(name)) (owner-only)")
        }
    }
}
