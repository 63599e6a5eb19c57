import Testing
import Foundation
import Storage
import TestSupport
import TokenService
import EMV
import Vault

/// The `passway` command as a person types it: real process, real exit codes.
@Suite struct CLITests {
    func passway(_ arguments: String..., stdin: String? = nil) throws -> Subprocess.Result {
        try Subprocess.run(Subprocess.passwayExecutable, arguments, stdin: stdin.map { Data($0.utf8) })
    }

    @Test func sm4OnSingleBlocks() throws {
        let example = "0123456789ABCDEFFEDCBA9876543210"
        let encrypted = try passway("emv", "sm4", "--key", example, "--data", example + example)
        #expect(encrypted.status == 0)
        #expect(encrypted.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == String(repeating: "681EDF34D206965E86B3E94F536E4246", count: 2))
        let decrypted = try passway("emv", "sm4", "--key", example, "--data", "681EDF34D206965E86B3E94F536E4246", "--decrypt")
        #expect(decrypted.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == example)
        // One line, non-zero, no key echoed.
        let shortKey = try passway("emv", "sm4", "--key", "0011", "--data", example)
        #expect(shortKey.status != 0 && shortKey.stderr.contains("--key: key must be 16 bytes"))
        // The SM4 profile's tools, consistent with each other: the session key of ATC 001C
        // is SM4(MK)[001C F0 00…], and the ARQC under it the first 8 bytes of its CMAC.
        let session = try passway("emv", "session-key", "--sm4", "--mk", example, "--atc", "001C")
        let sk = session.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let block = try passway("emv", "sm4", "--key", example, "--data", "001CF000000000000000000000000000")
        #expect(session.status == 0 && sk == block.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let arqc = try passway("emv", "arqc", "--sm4", "--sk", sk, "--data", "0000000010000000000000000643")
        #expect(arqc.status == 0 && arqc.stdout.trimmingCharacters(in: .whitespacesAndNewlines).count == 16)
        #expect(try passway("emv", "arqc", "--sm4", "--aes", "--sk", sk, "--data", "00").status != 0)
        // The SM4 card master key (Option C) and ARPC (method 2), against one case of
        // Tests/Oracles/sm4_oracle.py (OpenSSL's SM4 through `cryptography`), seed 1.
        let mk = try passway("emv", "icc-mk", "--sm4", "--imk", "2291D8CDC310411E7EC27378A661C935", "--pan", "86834497869073662", "--psn", "46")
        #expect(mk.status == 0 && mk.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "84D9A2894015B44A86610991F1BDE08D")
        let arpc = try passway("emv", "arpc", "--sm4", "--sk", "671293A311DBA64C46C64A94A01D7369", "--arqc", "D11F8A88987139A9", "--csu", "8CE1B3C6")
        #expect(arpc.status == 0 && arpc.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "96F393B8")
        let method1 = try passway("emv", "arpc", "--sm4", "--sk", "671293A311DBA64C46C64A94A01D7369", "--arqc", "D11F8A88987139A9", "--arc", "3030")
        #expect(method1.status != 0 && method1.stderr.contains("method 2"))
        let partial = try passway("emv", "sm4", "--key", example, "--data", "00112233")
        #expect(partial.status != 0 && partial.stderr.contains("--data") && !partial.stderr.contains(example))
    }

    @Test func qrMerchantPayloadsWrittenAndRead() throws {
        let written = try passway("qr", "merchant", "--name", "ГУМ", "--city", "Москва", "--mcc", "5311", "--currency", "RUB", "--acquirer", "25000001",
                                  "--merchant", "GUM-DEPARTMENT1", "--terminal", "MSK00001", "--amount", "150.00", "--dynamic")
        #expect(written.status == 0)
        let payload = written.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(payload.hasPrefix("000201010212") && payload.contains("0010RU.PASSWAY"))
        let read = try passway("qr", "decode", payload)
        #expect(read.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [String: Any])
        #expect(json["merchantName"] as? String == "ГУМ" && json["merchantCity"] as? String == "Москва" && json["currency"] as? String == "643")
        #expect(json["amount"] as? String == "150.00" && json["pointOfInitiation"] as? String == "12")
        #expect((json["merchantAccounts"] as? [String: [String: String]])?["26"]?["03"] == "MSK00001")
        // One character changed: one line, exit 1, the CRC named.
        let damaged = try passway("qr", "decode", String(payload.dropLast()) + (payload.last == "0" ? "1" : "0"))
        #expect(damaged.status != 0 && damaged.stderr.contains("CRC") && damaged.stderr.split(separator: "\n").count == 1)
        // A consumer-presented code built by pyemv (Tests/Oracles/qr_oracle.py --mode cpm-build).
        let cpm = try passway("qr", "decode", "hQVDUFYwMWE6TwegAAAJmRAQUAdQQVNTV0FZVxAiAXGZEjRWeNKRIgEAAAAPXzQBAGMQnyYIAQIDBAUGBwifNgIAAQ==")
        #expect(cpm.status == 0, "\(cpm.stderr)")
        let shown = try #require(try JSONSerialization.jsonObject(with: Data(cpm.stdout.utf8)) as? [String: Any])
        #expect(shown["token"] as? String == "220171******5678" && shown["expiry"] as? String == "2912" && shown["aid"] as? String == "A0000009991010")
        #expect((shown["cryptogramData"] as? [String: String])?["9F26"] == "0102030405060708")
        #expect(!cpm.stdout.contains("2201719912345678"), "the token number is masked")
        let notCPM = try passway("qr", "decode", "aGVsbG8=")
        #expect(notCPM.status != 0 && notCPM.stderr.contains("BER-TLV") && notCPM.stderr.split(separator: "\n").count == 1)
        for bad in [["--amount", "1.234"], ["--amount", "abc"], ["--mcc", "53"], ["--currency", "XXX"], ["--name", String(repeating: "A", count: 26)],
                    ["--currency", "JPY", "--amount", "5.0"]] {
            var arguments = ["qr", "merchant", "--name", "A", "--city", "B", "--mcc", "5311", "--currency", "RUB", "--acquirer", "25000001", "--merchant", "M"]
            for (option, value) in stride(from: 0, to: bad.count, by: 2).map({ (bad[$0], bad[$0 + 1]) }) {
                if let i = arguments.firstIndex(of: option) { arguments[i + 1] = value } else { arguments += [option, value] }
            }
            let refused = try Subprocess.run(Subprocess.passwayExecutable, arguments, stdin: nil)
            #expect(refused.status != 0 && refused.stderr.contains(bad.count == 2 ? bad[0] : "--amount") && refused.stderr.split(separator: "\n").count == 1,
                    "\(bad)")
        }
    }

    @Test func helpListsWhatExists() throws {
        let help = try passway("--help")
        #expect(help.status == 0)
        for command in ["serve", "emv", "iso8583", "qr", "fuzz"] { #expect(help.stdout.contains(command)) }
        let emv = try passway("emv", "--help")
        for command in ["icc-mk", "session-key", "arqc", "arpc", "tlv", "sm4"] { #expect(emv.stdout.contains(command)) }
    }

    /// The examples printed in pyemv's own documentation (kd.derive_icc_mk_b,
    /// kd.derive_common_sk), typed at our command line.
    @Test func keyDerivationMatchesPublishedExamples() throws {
        let mk = try passway("emv", "icc-mk", "--imk", "0123456789ABCDEFFEDCBA9876543210", "--pan", "12345678901234567", "--psn", "01")
        #expect(mk.stdout == "AD406D7F6D7570916D75E5DCAB8CF737\n")
        let sk = try passway("emv", "session-key", "--mk", "0123456789ABCDEFFEDCBA9876543210", "--atc", "001C")
        #expect(sk.stdout == "E9FB384AF807B940FEDCEA613461B0C4\n")
    }

    @Test func badInputIsOneLineAndANonZeroExit() throws {
        for args in [["emv", "session-key", "--mk", "0123", "--atc", "001C"],
                     ["emv", "arpc", "--sk", "0123456789ABCDEFFEDCBA9876543210", "--arqc", "12", "--arc", "3030"],
                     ["emv", "tlv", "9F3605AA"],
                     ["iso8583", "decode", "3031303070"],
                     ["emv", "arqc", "--sk", "ZZ", "--data", "00"]] {
            let r = try Subprocess.run(Subprocess.passwayExecutable, args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stdout.isEmpty, "\(args)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            #expect(r.stderr.hasPrefix("Error: "), "\(args): \(r.stderr)")
        }
        // A key is never echoed back in an error.
        let r = try passway("emv", "arqc", "--sk", "0123456789ABCDEFFEDCBA98765432", "--data", "00")
        #expect(!r.stderr.contains("0123456789ABCDEF"))
    }

    /// A database that cannot be used: one line naming it and why, a non-zero exit, and
    /// nothing written (not even the data directory and its key files).
    @Test func serveWithADatabaseItCannotUseSaysSoAndWritesNothing() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("passway-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (url, says) in [("postgres://passway@127.0.0.1:1/passway", "cannot use PostgreSQL at postgres://passway@127.0.0.1:1/passway"),
                            ("mysql://passway@127.0.0.1/passway", "--database: a database URL starts postgres://")] {
            let r = try passway("serve", "--database", url, "--data-dir", directory, "--port", "0", "--issuer-host-port", "0",
                                "--network-port", "0", "--issuer-host-iso-port", "0")
            #expect(r.status != 0)
            #expect(r.stderr.split(separator: "\n").first?.contains(says) == true, "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: directory))
        }
    }

    /// Dual control: three components, each with its check value, the key itself never
    /// shown; combined by the custodians into an owner-only key file, a typing error
    /// caught by its check value before anything is written.
    @Test func aMasterKeyIsMadeByCustodiansFromComponents() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("passway-keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ceremony = try passway("keys", "ceremony", "--components", "3")
        #expect(ceremony.status == 0, "\(ceremony.stderr)")
        let lines = ceremony.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let hexes = lines.filter { $0.count == 64 && $0.allSatisfy(\.isHexDigit) }
        let checks = lines.filter { $0.hasPrefix("check value ") }.map { String($0.dropFirst("check value ".count)) }
        let keyCheck = try #require(lines.first { $0.hasPrefix("the master key's check value: ") }?.split(separator: " ").last.map(String.init))
        #expect(hexes.count == 3 && checks.count == 3 && Set(hexes).count == 3)
        // The key (the components' XOR) is nowhere in the output.
        let parts = try hexes.map { try Hex.decode($0) }
        let key = (0..<32).map { i in parts.reduce(UInt8(0)) { $0 ^ $1[i] } }
        #expect(!ceremony.stdout.contains(key.map { String(format: "%02X", $0) }.joined()))
        #expect(!FileManager.default.fileExists(atPath: directory))

        let keyFile = directory + "/master.key"
        var typo = Array(hexes[1])
        typo[10] = typo[10] == "0" ? "1" : "0"
        let refused = try passway("keys", "combine", "--key-file", keyFile,
                                  stdin: "\(hexes[0]) \(checks[0])\n\(String(typo)) \(checks[1])\n\(hexes[2]) \(checks[2])\n")
        #expect(refused.status != 0 && refused.stderr.contains("component 2 does not match its check value"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: keyFile))

        let combined = try passway("keys", "combine", "--key-file", keyFile, stdin: zip(hexes, checks).map { "\($0) \($1)\n" }.joined())
        #expect(combined.status == 0, "\(combined.stderr)")
        #expect(combined.stdout.contains("check value \(keyCheck)") && !combined.stdout.contains(hexes[0]))
        #expect(try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int == 0o600)
        #expect(try MasterKey(hex: String(contentsOfFile: keyFile, encoding: .utf8)).checkValue == keyCheck)
        // Never over an existing key.
        #expect(try passway("keys", "combine", "--key-file", keyFile, stdin: zip(hexes, checks).map { "\($0) \($1)\n" }.joined()).status != 0)
    }

    /// `passway keys rotate` on a data directory: the vault opens under the new key only.
    @Test func theMasterKeyIsRotatedOnADataDirectory() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("passway-rotate-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let old = MasterKey.generate(), new = MasterKey.generate()
        try old.keyFileContents().write(toFile: directory + "/master.key", atomically: true, encoding: .utf8)
        try new.keyFileContents().write(toFile: directory + "/new.key", atomically: true, encoding: .utf8)
        _ = try await TokenService.openVault(master: old, store: try SQLiteStore(path: directory + "/passway.sqlite"))

        let same = try passway("keys", "rotate", "--data-dir", directory, "--new-key-file", directory + "/master.key")
        #expect(same.status != 0 && same.stderr.split(separator: "\n").count == 1 && same.stderr.contains("the new key is the current one"))
        let rotated = try passway("keys", "rotate", "--data-dir", directory, "--new-key-file", directory + "/new.key")
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stdout.contains(new.checkValue) && !rotated.stdout.contains(new.keyFileContents().trimmingCharacters(in: .whitespacesAndNewlines)))
        _ = try await TokenService.openVault(master: new, store: try SQLiteStore(path: directory + "/passway.sqlite"))
        await #expect(throws: (any Error).self) { _ = try await TokenService.openVault(master: old, store: try SQLiteStore(path: directory + "/passway.sqlite")) }
    }

    @Test func iso8583EncodeThenDecodeByHexAndByRawStandardInput() throws {
        let json = #"{"t": "0100", "2": "4111111111111111", "3": "000000", "4": "000000012345", "55": "9F360200019F2701809F2608A1B2C3D4E5F60718"}"#
        let encoded = try passway("iso8583", "encode", json)
        #expect(encoded.status == 0, "\(encoded.stderr)")
        let hexText = encoded.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let decoded = try passway("iso8583", "decode", hexText)
        #expect(decoded.stdout.hasPrefix(#"{"t": "0100", "p": "7000000000000200", "2": "4111111111111111""#))
        #expect(decoded.stdout.contains(#""55": "9F360200019F2701809F2608A1B2C3D4E5F60718""#))
        let raw = try Subprocess.run(Subprocess.passwayExecutable, ["iso8583", "decode"],
                                     stdin: Data(hex(hexText)))
        #expect(raw.stdout == decoded.stdout)
        let framed = try passway("iso8583", "encode", "--framed", json)
        #expect(framed.stdout.hasPrefix(String(format: "%04X", hexText.count / 2)))
    }

    @Test func tlvPrettyPrintNamesTags() throws {
        let r = try passway("emv", "tlv", "6F1A840E325041592E5359532E4444463031A5088801025F2D02656E")
        #expect(r.stdout.contains("84 Dedicated File (DF) Name [14]: 325041592E5359532E4444463031"))
        #expect(r.stdout.contains("    5F2D Language Preference [2]: 656E"))
    }

    @Test(.heavy) func fuzzCommandRunsAndReportsNoCrash() throws {
        let r = try passway("fuzz", "--iterations", "20000", "--seed", "7")
        #expect(r.status == 0)
        #expect(r.stdout.contains("0 crashes in 20000 inputs"))
    }

    /// The road trip: two banks, a phone and a watch, taps in Moscow (one billed in yuan),
    /// a decline over the balance, ATM cash, a lost watch declined; exit 0 and a summary.
    @Test(.timed) func demoRunsTheRoadTrip() throws {
        let r = try passway("demo")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Summary"))
        #expect(r.stdout.contains("in Jade Bank's app") && r.stdout.contains("the wallet redeems the receipt on his phone"), "a push-provisioned card")
        #expect(r.stdout.contains("9 authorizations: 7 approved, 2 declined"))
        #expect(r.stdout.contains("billed 214.40 CNY @ 0.0893317 SM4 ARPC "), "Jade Bank's card is an SM4 card")
        #expect(r.stdout.contains("Someone taps the lost watch: 350.00 RUB → 05"))
        #expect(r.stdout.contains("Ivan draws cash at an ATM: 5,000.00 RUB → 00"))
        #expect(r.stdout.contains("The day's clearing") && r.stdout.contains("5 cleared, 0 rejected"))
        #expect(r.stdout.contains("Ivan scans the café's QR code: 275.00 RUB to Cafe Pushkin → 00"), "a merchant-presented code paid")
        #expect(r.stdout.contains("Ivan shows a QR code at GUM") && r.stdout.contains("990.00 RUB → 00"), "a consumer-presented code paid")
    }

    /// `passway demo --json`: the same day as figures, ending with the clearing and each
    /// window's net positions, which sum to zero per currency.
    @Test(.timed) func demoPrintsTheDaysFiguresAsJSON() throws {
        let r = try passway("demo", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let authorizations = try #require(figures["authorizations"] as? [[String: Any]])
        #expect(authorizations.compactMap { $0["responseCode"] as? String } == ["00", "00", "00", "51", "00", "05", "00", "00", "00"])
        let clearing = try #require(figures["clearing"] as? [String: Any])
        #expect(clearing["cleared"] as? Int == 5 && clearing["rejected"] as? Int == 0)
        let windows = try #require(figures["settlement"] as? [[String: Any]])
        var positions: [String: [String: Int]] = [:]
        for w in windows {
            let currency = try #require((w["window"] as? [String: Any])?["currency"] as? String)
            #expect(w["totalMinor"] as? Int == 0, "\(currency)")
            for p in (w["positions"] as? [[String: Any]]) ?? [] { positions[currency, default: [:]][p["participant"] as? String ?? ""] = p["amountMinor"] as? Int }
            #expect(positions[currency]?.values.reduce(0, +) == 0)
        }
        // Li Wei's 2,400.00 RUB, billed 214.40 CNY: Jade Bank pays that less the interchange
        // it earns (19.20 RUB = 1.72 CNY at the same rate) and its scheme fee (0.11 CNY).
        #expect(positions["CNY"] == ["issuer:jade": -21_279, "network": 21_279])
        #expect(Set(positions["RUB"]?.keys ?? [:].keys) == ["acquirer:gum-acquirer", "issuer:moskva-bank", "network"])
    }
}
