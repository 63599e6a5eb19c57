#!/usr/bin/env python3
"""Independent SM4 (GB/T 32907-2016) vectors for Passway's tests, computed by code nobody
at Passway wrote: `gmssl` (PyPI) for the block cipher (each random block encrypted, a
random one decrypted), and `cryptography` (OpenSSL's SM4) for SM4-CMAC and the SM4
cryptogram profile (the AES profile with SM4: SK = SM4(MK)[ATC || F0 || 0...], ARQC the
first 8 bytes of SM4-CMAC under SK). The whole chain from an issuer master key too: the
card master key by EMV Option C (Y = PAN || PSN as BCD, left-padded with zero bytes to
16, MK = SM4(IMK)[Y]), its session key, the ARQC, and the ARPC by method 2 (the first 4
bytes of SM4-CMAC over ARQC || CSU). Random inputs from a seed the caller passes.

Output: one JSON object per line, {"key", "plain", "cipher", "other", "otherDecrypted",
"data", "cmac", "atc", "arqc", "pan", "psn", "cardMasterKey", "cardSessionKey",
"cardARQC", "csu", "arpc"} in hex (pan and psn in digits).
Usage: python3 -W ignore sm4_oracle.py --seed N --count N
       python3 -W ignore sm4_oracle.py --session-key SK --data HEX --csu HEX
       (one line: {"arqc", "arpc"}: the ARQC of DATA under SK and the ARPC of that
       ARQC with CSU, by method 2; to check a tap end to end)
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
    parser.add_argument("--seed", type=int)
    parser.add_argument("--count", type=int)
    parser.add_argument("--session-key")
    parser.add_argument("--data")
    parser.add_argument("--csu")
    args = parser.parse_args()
    if args.session_key is not None:
        sk, data, csu = bytes.fromhex(args.session_key), bytes.fromhex(args.data), bytes.fromhex(args.csu)
        arqc = sm4_cmac(sk, data)[:8]
        print(json.dumps({"arqc": arqc.hex().upper(), "arpc": sm4_cmac(sk, arqc + csu)[:4].hex().upper()}))
        return
    if args.seed is None or args.count is None:
        parser.error("--seed and --count, or --session-key, --data and --csu")
    rng = random.Random(args.seed)
    for _ in range(args.count):
        key, plain, other = (bytes(rng.getrandbits(8) for _ in range(16)) for _ in range(3))
        data = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 15, 16, 17, 29, 32, 33, rng.randint(0, 80)])))
        atc = bytes(rng.getrandbits(8) for _ in range(2))
        session = sm4_ecb(key, atc + b"\xF0" + b"\x00" * 13)
        pan = "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(12, 19)))
        psn = f"{rng.randint(0, 99):02d}"
        digits = (pan + psn).rjust(32, "0")
        card_mk = sm4_ecb(key, bytes.fromhex(digits))
        card_sk = sm4_ecb(card_mk, atc + b"\xF0" + b"\x00" * 13)
        card_arqc = sm4_cmac(card_sk, data)[:8]
        csu = bytes(rng.getrandbits(8) for _ in range(4))
        print(json.dumps({"key": key.hex().upper(), "plain": plain.hex().upper(), "cipher": block(key, plain, sm4.SM4_ENCRYPT).hex().upper(),
                          "other": other.hex().upper(), "otherDecrypted": block(key, other, sm4.SM4_DECRYPT).hex().upper(),
                          "data": data.hex().upper(), "cmac": sm4_cmac(key, data).hex().upper(), "atc": atc.hex().upper(),
                          "sessionKey": session.hex().upper(), "arqc": sm4_cmac(session, data)[:8].hex().upper(),
                          "pan": pan, "psn": psn, "cardMasterKey": card_mk.hex().upper(), "cardSessionKey": card_sk.hex().upper(),
                          "cardARQC": card_arqc.hex().upper(), "csu": csu.hex().upper(),
                          "arpc": sm4_cmac(card_sk, card_arqc + csu)[:4].hex().upper()}))


if __name__ == "__main__":
    main()
