import ArgumentParser
import EMV

struct EMVCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emv",
        abstract: "EMV cryptography as an engineer's tool: hex in, hex out.",
        subcommands: [ICCMasterKey.self, SessionKeyCommand.self, ARQC.self, ARPC.self, TLVCommand.self, SM4Command.self]
    )
}

/// Hex argument parsing with an error that names the option and never echoes a key.
func bytes(_ text: String, _ option: String) throws -> [UInt8] {
    do { return try Hex.decode(text) } catch { throw CLIError("--\(option): \(error)") }
}

func tdesKey(_ text: String, _ option: String) throws -> TDESKey {
    do { return try TDESKey(bytes(text, option)) } catch let error as KeyError { throw CLIError("--\(option): \(error)") }
}

func sm4Key(_ text: String, _ option: String) throws -> SM4Key {
    do { return try SM4Key(bytes(text, option)) } catch let error as KeyError { throw CLIError("--\(option): \(error)") }
}

struct ICCMasterKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "icc-mk",
        abstract: "Derive an ICC master key from an issuer master key (EMV Book 2 A1.4).",
        discussion: "TDES: Option A for card numbers of up to 16 digits, Option B above 16. SM4 (--sm4): Option C, MK = SM4(IMK)[PAN ‖ PSN left-padded with zeros to 16 bytes].")

    @Option(help: "Issuer master key, 16 or 24 bytes of hex (16 with --sm4).") var imk: String
    @Option(help: "Card (or token) number, 12 to 19 digits.") var pan: String
    @Option(help: "PAN sequence number, two digits.") var psn: String = "00"
    @Flag(help: "SM4 profile (PBOC 3.0): Option C with SM4.") var sm4 = false

    func run() throws {
        let number: PAN
        let sequence: PANSequenceNumber
        do {
            number = try PAN(unchecked: pan)
            sequence = try PANSequenceNumber(digits: psn)
        } catch { throw CLIError("\(error)") }
        if sm4 {
            print(MasterKeyDerivation.optionC(issuerMasterKey: try sm4Key(imk, "imk"), pan: number, sequenceNumber: sequence).exportKeyMaterial().hex)
        } else {
            print(MasterKeyDerivation.derive(issuerMasterKey: try tdesKey(imk, "imk"), pan: number, sequenceNumber: sequence).exportKeyMaterial().hex)
        }
    }
}

struct SessionKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session-key",
        abstract: "Derive an application cryptogram session key (EMV Book 2 A1.3.1, common session key).")

    @Option(help: "ICC master key, 16 bytes of hex (TDES) or 16/24/32 with --aes, 16 with --sm4.") var mk: String
    @Option(help: "Application transaction counter, 2 bytes of hex (for example 001C).") var atc: String
    @Flag(help: "AES profile instead of TDES.") var aes = false
    @Flag(help: "SM4 profile (PBOC 3.0) instead of TDES.") var sm4 = false

    func validate() throws { if aes && sm4 { throw ValidationError("--aes or --sm4, not both") } }

    func run() throws {
        let counter = try parseATC(atc)
        if sm4 {
            print(SessionKeyDerivation.commonSessionKey(master: try sm4Key(mk, "mk"), atc: counter).exportKeyMaterial().hex)
        } else if aes {
            let key: AESKey
            do { key = try AESKey(bytes(mk, "mk")) } catch let e as KeyError { throw CLIError("--mk: \(e)") }
            print(SessionKeyDerivation.commonSessionKey(master: key, atc: counter).exportKeyMaterial().hex)
        } else {
            print(SessionKeyDerivation.commonSessionKey(master: try tdesKey(mk, "mk"), atc: counter).exportKeyMaterial().hex)
        }
    }
}

func parseATC(_ text: String) throws -> ApplicationTransactionCounter {
    let b = try bytes(text, "atc")
    guard b.count == 2 else { throw CLIError("--atc: the ATC is 2 bytes (4 hex digits), got \(b.count)") }
    return ApplicationTransactionCounter(UInt16(b[0]) << 8 | UInt16(b[1]))
}

struct ARQC: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute an application cryptogram: ISO 9797-1 MAC algorithm 3, padding 2 (or AES-CMAC with --aes, SM4-CMAC with --sm4).")

    @Option(help: "Session key, hex.") var sk: String
    @Option(help: "The data the card MACs (CDOL1 data and card data), hex.") var data: String
    @Flag(help: "AES profile: AES-CMAC truncated to 8 bytes.") var aes = false
    @Flag(help: "SM4 profile: SM4-CMAC truncated to 8 bytes.") var sm4 = false

    func validate() throws { if aes && sm4 { throw ValidationError("--aes or --sm4, not both") } }

    func run() throws {
        let input = try bytes(data, "data")
        if sm4 {
            print(ApplicationCryptogram.generate(sessionKey: try sm4Key(sk, "sk"), data: input).hex)
        } else if aes {
            let key: AESKey
            do { key = try AESKey(bytes(sk, "sk")) } catch let e as KeyError { throw CLIError("--sk: \(e)") }
            print(ApplicationCryptogram.generate(sessionKey: key, data: input).hex)
        } else {
            print(ApplicationCryptogram.generate(sessionKey: try tdesKey(sk, "sk"), data: input).hex)
        }
    }
}

struct ARPC: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute an authorisation response cryptogram (EMV Book 2 §8.2).",
        discussion: "Method 1 with --arc; method 2 with --csu (and optionally --pad). With --aes or --sm4, method 2: the profile's CMAC over ARQC ‖ CSU ‖ PAD, leftmost 4 bytes.")

    @Option(help: "Session key, 16 bytes of hex (16/24/32 with --aes).") var sk: String
    @Option(help: "The ARQC, 8 bytes of hex.") var arqc: String
    @Option(help: "Method 1: authorisation response code, 2 bytes of hex (for example 3030).") var arc: String?
    @Option(help: "Method 2: card status update, 4 bytes of hex.") var csu: String?
    @Option(help: "Method 2: proprietary authentication data, 0 to 8 bytes of hex.") var pad: String?
    @Flag(help: "AES profile: method 2 with AES-CMAC.") var aes = false
    @Flag(help: "SM4 profile: method 2 with SM4-CMAC.") var sm4 = false

    func validate() throws {
        guard (arc == nil) != (csu == nil) else { throw ValidationError("give --arc (method 1) or --csu (method 2), not both or neither") }
        if pad != nil && csu == nil { throw ValidationError("--pad goes with --csu (method 2)") }
        if aes && sm4 { throw ValidationError("--aes or --sm4, not both") }
        if (aes || sm4) && arc != nil { throw ValidationError("the AES and SM4 profiles answer with method 2: give --csu, not --arc") }
    }

    func run() throws {
        let cryptogram = try bytes(arqc, "arqc")
        do {
            if let csu, sm4 {
                print(try AuthorisationResponseCryptogram.method2(sessionKey: try sm4Key(sk, "sk"), arqc: cryptogram, cardStatusUpdate: bytes(csu, "csu"),
                                                                  proprietaryAuthenticationData: bytes(pad ?? "", "pad")).hex)
                return
            }
            if let csu, aes {
                let key: AESKey
                do { key = try AESKey(bytes(sk, "sk")) } catch let e as KeyError { throw CLIError("--sk: \(e)") }
                print(try AuthorisationResponseCryptogram.method2(sessionKey: key, arqc: cryptogram, cardStatusUpdate: bytes(csu, "csu"),
                                                                  proprietaryAuthenticationData: bytes(pad ?? "", "pad")).hex)
                return
            }
            let key = try tdesKey(sk, "sk")
            if let arc {
                print(try AuthorisationResponseCryptogram.method1(sessionKey: key, arqc: cryptogram, responseCode: bytes(arc, "arc")).hex)
            } else if let csu {
                print(try AuthorisationResponseCryptogram.method2(sessionKey: key, arqc: cryptogram, cardStatusUpdate: bytes(csu, "csu"),
                                                                  proprietaryAuthenticationData: bytes(pad ?? "", "pad")).hex)
            }
        } catch let error as CryptogramError {
            throw CLIError("\(error)")
        }
    }
}

struct TLVCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tlv",
        abstract: "Pretty-print BER-TLV data (for example ISO 8583 field 55) with tag names.")

    @Argument(help: "The TLV data, hex.") var hex: String

    func run() throws {
        do {
            print(BERTLV.prettyPrint(try BERTLV.decode(bytes(hex, "hex"))))
        } catch let error as TLVError {
            throw CLIError("\(error)")
        }
    }
}

struct SM4Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sm4",
        abstract: "SM4 (GB/T 32907-2016) on single blocks: each 16 bytes of --data on its own (ECB), hex in and out.",
        discussion: "passway emv sm4 --key 0123456789ABCDEFFEDCBA9876543210 --data 0123456789ABCDEFFEDCBA9876543210 prints the standard's example, 681EDF34D206965E86B3E94F536E4246.")

    @Option(help: "SM4 key, 16 bytes of hex.") var key: String
    @Option(help: "Whole 16-byte blocks of hex (at most 4,096 bytes).") var data: String
    @Flag(help: "Decrypt instead of encrypt.") var decrypt = false

    func run() throws {
        let sm4 = try sm4Key(key, "key")
        let input = try bytes(data, "data")
        guard input.count <= 4_096 else { throw CLIError("--data: at most 4,096 bytes, got \(input.count)") }
        do {
            print((decrypt ? try sm4.decrypt(blocks: input) : try sm4.encrypt(blocks: input)).hex)
        } catch let error as CipherError { throw CLIError("--data: \(error)") }
    }
}
