import EMV
import Foundation
import Testing
import TestSupport

/// SM4 against the standard's own examples (GB/T 32907-2016, appendix A), against `gmssl`
/// (PyPI) on random keys and blocks, both ways, byte for byte, and the SM4 cryptogram
/// profile (SM4-CMAC, the card master key by Option C, the session key, the ARQC, the
/// ARPC by method 2) against `cryptography` (OpenSSL's SM4).
@Suite(.heavy) struct SM4OracleTests {
    static let example = "0123456789ABCDEFFEDCBA9876543210"

    @Test func theStandardsExamples() throws {
        let key = try SM4Key(hex: Self.example)
        let plain = try Hex.decode(Self.example)
        let once = try key.encrypt(block: plain)
        #expect(once.hex == "681EDF34D206965E86B3E94F536E4246")
        #expect(try key.decrypt(block: once) == plain)
        // Example 2: the same block encrypted 1,000,000 times with the same key.
        var block = plain
        for _ in 0..<1_000_000 { block = try key.encrypt(block: block) }
        #expect(block.hex == "595298C7C6FD271F0402F804C33D3F66")
    }

    @Test func matchesGmsslByteForByte() throws {
        switch Oracle.availability {
        case .failure(let failure) where !Oracle.isCI:
            print("⚠️ \(failure) — SM4 oracle comparison NOT RUN")
            return
        default: break
        }
        let seed = SplitMix64.seed(for: "SM4OracleTests")
        let cases = try Oracle.lines(script: "sm4_oracle.py", arguments: ["--seed", "\(seed)", "--count", "1000"])
        #expect(cases.count == 1000)
        var mismatched = 0
        for item in cases {
            let v = item.compactMapValues { $0 as? String }
            let key = try SM4Key(hex: v["key"] ?? "")
            if try key.encrypt(block: Hex.decode(v["plain"] ?? "")).hex != v["cipher"] { mismatched += 1 }
            if try key.decrypt(block: Hex.decode(v["cipher"] ?? "")).hex != v["plain"] { mismatched += 1 }
            if try key.decrypt(block: Hex.decode(v["other"] ?? "")).hex != v["otherDecrypted"] { mismatched += 1 }
            let data = try Hex.decode(v["data"] ?? "")
            if key.cmac(data).hex != v["cmac"] { mismatched += 1 }
            let atc = try Hex.decode(v["atc"] ?? "")
            let session = SessionKeyDerivation.commonSessionKey(master: key, atc: ApplicationTransactionCounter(UInt16(atc[0]) << 8 | UInt16(atc[1])))
            if session.exportKeyMaterial().hex != v["sessionKey"] { mismatched += 1 }
            let arqc = try Hex.decode(v["arqc"] ?? "")
            if ApplicationCryptogram.generate(sessionKey: session, data: data) != arqc { mismatched += 1 }
            if !ApplicationCryptogram.verify(arqc, sessionKey: session, data: data) { mismatched += 1 }
            if ApplicationCryptogram.verify(arqc.map { $0 ^ 0x01 }, sessionKey: session, data: data) { mismatched += 1 }
            // The whole chain of the SM4 profile, as the token service and a device run it.
            let imk = IssuerMasterKey(.sm4(key))
            let cardKey = imk.cardMasterKey(pan: try PAN(unchecked: v["pan"] ?? ""), sequenceNumber: try PANSequenceNumber(digits: v["psn"] ?? ""))
            guard case .sm4(let mk) = cardKey.key else { mismatched += 1; continue }
            if mk.exportKeyMaterial().hex != v["cardMasterKey"] { mismatched += 1 }
            let sk = cardKey.sessionKey(atc: ApplicationTransactionCounter(UInt16(atc[0]) << 8 | UInt16(atc[1])))
            if sk.exportKeyMaterial().hex != v["cardSessionKey"] { mismatched += 1 }
            let cardARQC = sk.cryptogram(data)
            if cardARQC.hex != v["cardARQC"] || !sk.verify(cardARQC, data: data) { mismatched += 1 }
            guard case .sm4(let skSM4) = sk.key else { mismatched += 1; continue }
            let arpc = try AuthorisationResponseCryptogram.method2(sessionKey: skSM4, arqc: cardARQC, cardStatusUpdate: try Hex.decode(v["csu"] ?? ""))
            if arpc.hex != v["arpc"] { mismatched += 1 }
        }
        print("SM4 against gmssl and cryptography (blocks, CMAC, Option C master keys, session keys, ARQCs, ARPCs): \(cases.count) cases, \(mismatched) mismatched (seed \(seed))")
        #expect(mismatched == 0, "seed \(seed)")
    }

    @Test func wrongLengthsAreRefused() throws {
        #expect(throws: KeyError.wrongLength(expected: "16", actual: 15)) { try SM4Key([UInt8](repeating: 0, count: 15)) }
        #expect(throws: KeyError.self) { try SM4Key(hex: "zz") }
        let key = try SM4Key(hex: Self.example)
        #expect(throws: CipherError.self) { try key.encrypt(block: [1, 2, 3]) }
        #expect(throws: CipherError.self) { try key.decrypt(blocks: []) }
        #expect(throws: CipherError.self) { try key.encrypt(blocks: [UInt8](repeating: 0, count: 17)) }
        #expect(try key.encrypt(blocks: try Hex.decode(Self.example + Self.example)).hex == "681EDF34D206965E86B3E94F536E4246681EDF34D206965E86B3E94F536E4246")
        #expect(key.description.hasPrefix("SM4Key(KCV "), "no key material in descriptions")
    }
}
