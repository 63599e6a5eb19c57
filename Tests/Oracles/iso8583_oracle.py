#!/usr/bin/env python3
"""pyiso8583 as an independent ISO 8583 codec for Passway's tests.

Its `iso8583.specs.default` is a standard ISO 8583:1987 layout with ASCII MTI and
fields, binary bitmaps and binary fields 52, 55, 64, 96, 128: Passway's wire profile. pyiso8583 reads
bit 65 as a tertiary bitmap; Passway carries no field above 128, so 65 is never sent.

  pack   --seed N --count N   random messages packed by pyiso8583:
                              {"dict": {...decoded form...}, "hex": "..."} per line
  decode                      hex messages on stdin (one per line), each decoded by
                              pyiso8583: {"dict": {...}} or {"error": "..."} per line
"""
import argparse
import json
import random
import string
import sys

try:
    import iso8583
    from iso8583.specs import default as SPEC
except ImportError as error:
    print(json.dumps({"error": f"missing oracle package: {error}"}))
    sys.exit(3)

# ISO 8583:1987 data element types (ISO 8583:1987 §4.3), written down here from the
# standard rather than taken from Passway's spec, to generate valid values.
NUMERIC = set(range(2, 34)) - {28, 29, 30, 31} | {53} | set(range(66, 91)) | {99, 100}
SIGNED = {28, 29, 30, 31, 97}
ALNUM = {37, 38, 39, 40, 49, 50, 51, 91, 92, 93, 94, 95}
TRACK = {35}
BINARY = {52, 55, 64, 96, 128}
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
ALNUM_CHARS = string.ascii_letters + string.digits + " "


def value_for(rng, field):
    spec = SPEC[str(field)]
    max_len = spec["max_len"]
    if spec["len_type"] == 0:
        n = max_len
    else:
        n = rng.choice([0, 1, max_len, rng.randint(0, max_len)])
    if field in BINARY:
        return bytes(rng.getrandbits(8) for _ in range(n)).hex().upper()
    if field in NUMERIC:
        return "".join(rng.choice(string.digits) for _ in range(n))
    if field in SIGNED:
        return rng.choice("CD") + "".join(rng.choice(string.digits) for _ in range(n - 1))
    if field in TRACK:
        return "".join(rng.choice(string.digits + "=D") for _ in range(n))
    if field in ALNUM:
        return "".join(rng.choice(ALNUM_CHARS) for _ in range(n))
    return "".join(rng.choice(PRINTABLE) for _ in range(n))


def random_message(rng):
    doc = {"t": "".join(rng.choice(string.digits) for _ in range(4))}
    fields = [f for f in range(2, 129) if f != 65]
    count = rng.choice([1, 3, 8, 20, rng.randint(1, len(fields))])
    for field in rng.sample(fields, count):
        doc[str(field)] = value_for(rng, field)
    return doc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["pack", "decode"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    out = sys.stdout
    if args.mode == "pack":
        rng = random.Random(args.seed)
        for _ in range(args.count):
            doc = random_message(rng)
            packed, _ = iso8583.encode(doc, SPEC)
            decoded, _ = iso8583.decode(bytes(packed), SPEC)
            out.write(json.dumps({"dict": decoded, "hex": bytes(packed).hex().upper()}) + "\n")
    else:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                decoded, _ = iso8583.decode(bytes.fromhex(line), SPEC)
                out.write(json.dumps({"dict": decoded}) + "\n")
            except Exception as error:  # reported per message, compared by the test
                out.write(json.dumps({"error": str(error)}) + "\n")


if __name__ == "__main__":
    main()
