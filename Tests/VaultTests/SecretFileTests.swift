import Foundation
import Testing
import Vault

/// Files that hold secrets: owner-only from their creation, never written through a
/// link or over a file that is already there.
@Suite struct SecretFileTests {
    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)").path
        try SecretFile.makeDirectory(dir + "/inner")
        return dir + "/inner"
    }

    @Test func aSecretFileIsOwnerOnlyAndNeverWrittenThroughALink() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        #expect(try FileManager.default.attributesOfItem(atPath: dir)[.posixPermissions] as? Int == 0o700)
        try SecretFile.create(dir + "/a.key", contents: Array("secret\n".utf8))
        #expect(try FileManager.default.attributesOfItem(atPath: dir + "/a.key")[.posixPermissions] as? Int == 0o600)
        #expect(try String(contentsOfFile: dir + "/a.key", encoding: .utf8) == "secret\n")
        // Never over an existing file, never through a symbolic link (to where an attacker reads).
        #expect(throws: SecretFile.Failure.self) { try SecretFile.create(dir + "/a.key", contents: Array("other".utf8)) }
        #expect(try String(contentsOfFile: dir + "/a.key", encoding: .utf8) == "secret\n")
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.key", withDestinationPath: dir + "/elsewhere")
        #expect(throws: SecretFile.Failure.self) { try SecretFile.create(dir + "/link.key", contents: Array("secret".utf8)) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/elsewhere"))
        // A replacement stays owner-only.
        try SecretFile.replace(dir + "/a.key", contents: Array("new".utf8))
        #expect(try String(contentsOfFile: dir + "/a.key", encoding: .utf8) == "new")
        #expect(try FileManager.default.attributesOfItem(atPath: dir + "/a.key")[.posixPermissions] as? Int == 0o600)
    }

    @Test func aWideDirectoryIsNarrowed() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir)
        try SecretFile.makeDirectory(dir)
        #expect(try FileManager.default.attributesOfItem(atPath: dir)[.posixPermissions] as? Int == 0o700)
        try FileManager.default.createFile(atPath: dir + "/file", contents: nil)
        #expect(throws: SecretFile.Failure.self) { try SecretFile.makeDirectory(dir + "/file") }
    }
}
