#!/usr/bin/env python3
"""Independent SM4 (GB/T 32907-2016) vectors for Passway's tests, computed by `gmssl`
(PyPI), which nobody at Passway wrote: random keys and blocks from a seed the caller
passes, each block encrypted and a random one decrypted.

Output: one JSON object per line, {"key", "plain", "cipher", "other", "otherDecrypted"} in hex.
Usage: python3 -W ignore sm4_oracle.py --seed N --count N
"""
import argparse
import json
import random
import sys

try:
    from gmssl import sm4
except ImportError as error:  # the Swift test turns this into a loud failure
    print(json.dumps({"error": f"missing oracle package: {error}"}))
    sys.exit(3)


def block(key, data, mode):
    cipher = sm4.CryptSM4()
    cipher.set_key(key, mode)
    return bytes(cipher.one_round(cipher.sk, list(data)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for _ in range(args.count):
        key, plain, other = (bytes(rng.getrandbits(8) for _ in range(16)) for _ in range(3))
        print(json.dumps({"key": key.hex().upper(), "plain": plain.hex().upper(), "cipher": block(key, plain, sm4.SM4_ENCRYPT).hex().upper(),
                          "other": other.hex().upper(), "otherDecrypted": block(key, other, sm4.SM4_DECRYPT).hex().upper()}))


if __name__ == "__main__":
    main()
