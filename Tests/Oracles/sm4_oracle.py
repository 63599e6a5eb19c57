#!/usr/bin/env python3
"""Independent SM4 (GB/T 32907-2016) vectors for Passway's tests, computed by code nobody
at Passway wrote: `gmssl` (PyPI) for the block cipher (each random block encrypted, a
random one decrypted), and `cryptography` (OpenSSL's SM4) for SM4-CMAC and the SM4
cryptogram profile (the AES profile with SM4: SK = SM4(MK)[ATC || F0 || 0...], ARQC the
first 8 bytes of SM4-CMAC under SK). Random inputs from a seed the caller passes.

Output: one JSON object per line, {"key", "plain", "cipher", "other", "otherDecrypted",
"data", "cmac", "atc", "arqc"} in hex.
Usage: python3 -W ignore sm4_oracle.py --seed N --count N
"""
import argparse
import json
import random
import sys

try:
    from gmssl import sm4
    from cryptography.hazmat.primitives import cmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
except ImportError as error:  # the Swift test turns this into a loud failure
    print(json.dumps({"error": f"missing oracle package: {error}"}))
    sys.exit(3)


def block(key, data, mode):
    cipher = sm4.CryptSM4()
    cipher.set_key(key, mode)
    return bytes(cipher.one_round(cipher.sk, list(data)))


def sm4_cmac(key, data):
    c = cmac.CMAC(algorithms.SM4(key))
    c.update(data)
    return c.finalize()


def sm4_ecb(key, block):
    e = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for _ in range(args.count):
        key, plain, other = (bytes(rng.getrandbits(8) for _ in range(16)) for _ in range(3))
        data = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 15, 16, 17, 29, 32, 33, rng.randint(0, 80)])))
        atc = bytes(rng.getrandbits(8) for _ in range(2))
        session = sm4_ecb(key, atc + b"\xF0" + b"\x00" * 13)
        print(json.dumps({"key": key.hex().upper(), "plain": plain.hex().upper(), "cipher": block(key, plain, sm4.SM4_ENCRYPT).hex().upper(),
                          "other": other.hex().upper(), "otherDecrypted": block(key, other, sm4.SM4_DECRYPT).hex().upper(),
                          "data": data.hex().upper(), "cmac": sm4_cmac(key, data).hex().upper(), "atc": atc.hex().upper(),
                          "sessionKey": session.hex().upper(), "arqc": sm4_cmac(session, data)[:8].hex().upper()}))


if __name__ == "__main__":
    main()
