import ArgumentParser
import Foundation
import EMV
import ISO8583
import SQLiteSupport

struct ISO8583Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iso8583",
        abstract: "Decode and encode ISO 8583:1987 messages in the Passway wire profile.",
        discussion: """
        JSON is the shape pyiso8583 decodes to: "t" the MTI, "p"/"1" the bitmaps, field numbers \
        as string keys, binary fields (52, 55, 64, 96, 128) as upper-case hex.
        """,
        subcommands: [Decode.self, Encode.self]
    )

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode a message given as hex, or as raw bytes on standard input, to JSON.")

        @Argument(help: "The message, hex. Without it, raw bytes are read from standard input.") var hex: String?
        @Flag(help: "The input starts with the 2-byte length prefix of the TCP framing.") var framed = false
        @Flag(help: "Also print field 55 as a TLV tree (to standard error).") var tlv = false

        func run() throws {
            var input: [UInt8]
            if let hex {
                input = try bytes(hex, "hex")
            } else {
                input = Array(try FileHandle.standardInput.readToEnd() ?? Data())
            }
            if framed {
                guard input.count >= 2 else { throw CLIError("--framed: no length prefix in \(input.count) bytes") }
                let length = Int(input[0]) << 8 | Int(input[1])
                guard input.count - 2 == length else {
                    throw CLIError("--framed: the prefix says \(length) bytes but \(input.count - 2) follow")
                }
                input.removeFirst(2)
            }
            let message: Message
            do { message = try ISO8583Codec().unpack(input) } catch { throw CLIError("\(error)") }
            print(json(message.pyiso8583Dictionary))
            if tlv, let icc = try? message.iccData() {
                FileHandle.standardError.write(Data((BERTLV.prettyPrint(icc) + "\n").utf8))
            }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encode a message from JSON (argument or standard input) and print it as hex.")

        @Argument(help: "The message as JSON. Without it, JSON is read from standard input.") var json: String?
        @Flag(help: "Prefix the 2-byte length of the TCP framing.") var framed = false

        func run() throws {
            let text = try json.map { Data($0.utf8) } ?? FileHandle.standardInput.readToEnd() ?? Data()
            guard let object = try? JSONSerialization.jsonObject(with: text), let dict = object as? [String: Any] else {
                throw CLIError("input is not a JSON object")
            }
            var fields: [String: String] = [:]
            for (key, value) in dict {
                guard let string = value as? String else { throw CLIError("\"\(key)\" must be a string") }
                fields[key] = string
            }
            do {
                let message = try Message(pyiso8583Dictionary: fields)
                var packed = try ISO8583Codec().pack(message)
                if framed { packed = try LengthPrefixFraming.frame(packed) }
                print(packed.hex)
            } catch {
                throw CLIError("\(error)")
            }
        }
    }
}

/// The dictionary as JSON in reading order: "t", "p", "1", then fields ascending.
func json(_ dict: [String: String]) -> String {
    let order = ["t", "p", "1"]
    let keys = order.filter { dict[$0] != nil } + dict.keys.filter { !order.contains($0) }.sorted { Int($0) ?? 0 < Int($1) ?? 0 }
    return "{" + keys.map { "\(quote($0)): \(quote(dict[$0]!))" }.joined(separator: ", ") + "}"
}

func quote(_ s: String) -> String { DocumentWriter.quoted(s) }
