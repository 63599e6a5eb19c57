#!/usr/bin/env python3
"""TR-31 (ANSI X9.143) version D key blocks from psec, for Passway's tests.

--mode wrap: random KBPKs (AES-128/192/256), keys (TDES 16/24, AES 16/24/32) and headers
from the seed, each wrapped by psec: {"kbpk", "key", "usage", "algorithm", "mode",
"version", "exportability", "block"} per line.
--mode unwrap: reads {"kbpk", "block"} lines on standard input (blocks Passway wrapped)
and prints {"key"} (or {"refused": reason}) for each, as psec unwraps them.
"""
import argparse
import json
import random
import sys

try:
    from psec import tr31
except ImportError as error:
    print(json.dumps({"error": f"missing oracle package: {error}"}))
    sys.exit(3)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["wrap", "unwrap"], required=True)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    if args.mode == "wrap":
        rng = random.Random(args.seed)
        for _ in range(args.count):
            kbpk = bytes(rng.getrandbits(8) for _ in range(rng.choice([16, 24, 32])))
            algorithm = rng.choice(["T", "A"])
            key = bytes(rng.getrandbits(8) for _ in range(rng.choice([16, 24] if algorithm == "T" else [16, 24, 32])))
            usage, mode = rng.choice([("M3", "C"), ("M6", "C"), ("K0", "B"), ("D0", "B"), ("P0", "E")])
            version = rng.choice(["00", "01", "12"])
            export = rng.choice(["E", "N", "S"])
            header = tr31.Header("D", usage, algorithm, mode, version, export)
            block = tr31.KeyBlock(kbpk, header).wrap(key)
            print(json.dumps({"kbpk": kbpk.hex().upper(), "key": key.hex().upper(), "usage": usage, "algorithm": algorithm,
                              "mode": mode, "version": version, "exportability": export, "block": block}))
    else:
        for line in sys.stdin:
            item = json.loads(line)
            try:
                key = tr31.KeyBlock(bytes.fromhex(item["kbpk"])).unwrap(item["block"])
                print(json.dumps({"key": key.hex().upper()}))
            except Exception as error:  # the Swift test reports it
                print(json.dumps({"refused": str(error)}))


if __name__ == "__main__":
    main()
