#!/usr/bin/env python3
"""Independent EMV and DES/TDES vectors for Passway's tests.

Every value here is computed by code nobody at Passway wrote: pyemv (EMV key
derivation, cryptograms, ARPC, ISO 9797-1 MAC 3, BER-TLV), psec (TDES modes,
CBC-MAC, key check values) and the `cryptography` package (AES, AES-CMAC). Inputs are
random from a seed the caller passes and this script prints, so any failure replays.

Output: one JSON object per line, {"alg": NAME, ...hex strings...}.
Usage: python3 -W ignore emv_oracle.py --seed N --count N
"""
import argparse
import json
import random
import sys

try:
    import pyemv
    from pyemv import ac, kd, mac, tlv
    import psec
    from psec import des as psec_des, mac as psec_mac
    from cryptography.hazmat.primitives import cmac as crypto_cmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
except ImportError as error:  # the Swift test turns this into a loud failure
    print(json.dumps({"error": f"missing oracle package: {error}"}))
    sys.exit(3)


def rbytes(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def digits(rng, n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def aes_ecb(key, block):
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def aes_cmac(key, data):
    c = crypto_cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def h(b):
    return b.hex().upper()


def random_tlv(rng, depth=0):
    """A random nested dict in pyemv's TLV shape with unique tags per level."""
    out = {}
    for _ in range(rng.randint(1, 6)):
        constructed = depth < 3 and rng.random() < 0.2
        kind = rng.choice([1, 1, 2, 2, 3])
        cls = rng.choice([0x00, 0x40, 0x80, 0xC0])
        first_low = rng.choice([b for b in range(0x1F) if b not in (0x00,)])
        first = cls | (0x20 if constructed else 0) | (0x1F if kind > 1 else first_low)
        if first in (0x00, 0xFF):
            continue
        tag = bytes([first])
        if kind == 2:
            tag += bytes([rng.randint(0x01, 0x7F)])
        elif kind == 3:
            tag += bytes([rng.randint(0x81, 0xFF), rng.randint(0x01, 0x7F)])
        name = h(tag)
        if name in out:
            continue
        if constructed:
            out[name] = random_tlv(rng, depth + 1)
        else:
            size = rng.choice([0, 1, 2, 4, 8, rng.randint(0, 127), rng.randint(128, 300)])
            out[name] = h(rbytes(rng, size))
    return out


def render(tree):
    """The canonical text both sides render a TLV tree to: TAG:HEX and TAG{...}."""
    parts = []
    for tag, value in tree.items():
        if isinstance(value, dict):
            parts.append(f"{tag}{{{render(value)}}}")
        else:
            parts.append(f"{tag}:{value}")
    return ",".join(parts)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out = sys.stdout
    emit = lambda **kv: out.write(json.dumps(kv) + "\n")

    for _ in range(args.count):
        key = rbytes(rng, rng.choice([16, 24]))
        blocks = rbytes(rng, 8 * rng.randint(1, 6))
        iv = rbytes(rng, 8)
        emit(alg="tdes_ecb", key=h(key), data=h(blocks), out=h(psec_des.encrypt_tdes_ecb(key, blocks)))
        emit(alg="tdes_cbc", key=h(key), iv=h(iv), data=h(blocks), out=h(psec_des.encrypt_tdes_cbc(key, iv, blocks)))
        emit(alg="tdes_kcv", key=h(key), out=h(psec_des.generate_kcv(key, 3)))

        key16 = rbytes(rng, 16)
        data = rbytes(rng, rng.randint(0, 80))
        padding = rng.choice([1, 2])
        emit(alg="mac1", key=h(key16), padding=str(padding), data=h(data),
             out=h(psec_mac.generate_cbc_mac(key16, data, padding)))
        emit(alg="mac3", key=h(key16), padding=str(padding), data=h(data),
             out=h(mac.mac_iso9797_3(key16[:8], key16[8:], data, padding)))

        imk = rbytes(rng, 16)
        pan = digits(rng, rng.randint(12, 16))
        psn = digits(rng, 2)
        emit(alg="icc_mk_a", imk=h(imk), pan=pan, psn=psn, out=h(kd.derive_icc_mk_a(imk, pan, psn)))
        long_pan = digits(rng, rng.randint(17, 19))
        emit(alg="icc_mk_b", imk=h(imk), pan=long_pan, psn=psn, out=h(kd.derive_icc_mk_b(imk, long_pan, psn)))

        mk = rbytes(rng, 16)
        atc = rbytes(rng, 2)
        sk = kd.derive_common_sk(mk, atc + bytes(6))
        emit(alg="session_key", mk=h(mk), atc=h(atc), out=h(sk))

        cdol = rbytes(rng, rng.randint(20, 60))
        emit(alg="arqc", sk=h(sk), data=h(cdol), out=h(ac.generate_ac(sk, cdol)))
        # The whole chain the network runs: issuer master key → token master key →
        # session key for this ATC → ARQC over the CDOL1 data.
        chain_pan = digits(rng, 16)
        chain_mk = kd.derive_icc_mk_a(imk, chain_pan, "00")
        chain_sk = kd.derive_common_sk(chain_mk, atc + bytes(6))
        emit(alg="arqc_chain", imk=h(imk), pan=chain_pan, atc=h(atc), data=h(cdol),
             out=h(ac.generate_ac(chain_sk, cdol)))

        arqc = rbytes(rng, 8)
        arc = rbytes(rng, 2)
        emit(alg="arpc1", sk=h(sk), arqc=h(arqc), arc=h(arc), out=h(ac.generate_arpc_1(sk, arqc, arc)))
        csu = rbytes(rng, 4)
        pad = rbytes(rng, rng.randint(0, 8))
        emit(alg="arpc2", sk=h(sk), arqc=h(arqc), csu=h(csu), pad=h(pad), out=h(ac.generate_arpc_2(sk, arqc, csu, pad)))

        aes_key = rbytes(rng, rng.choice([16, 24, 32]))
        msg = rbytes(rng, rng.randint(0, 80))
        emit(alg="aes_cmac", key=h(aes_key), data=h(msg), out=h(aes_cmac(aes_key, msg)))
        # EMV Book 2 A1.3.1 with AES (n = 128): F1/F2 are R with byte 3 set to F0/0F,
        # SK the leftmost k bits of AES(MK)[F1] || AES(MK)[F2]; ARQC = CMAC, 8 bytes.
        r = atc + bytes(14)
        f1 = r[:2] + b"\xF0" + r[3:]
        f2 = r[:2] + b"\x0F" + r[3:]
        aes_sk = (aes_ecb(aes_key, f1) + aes_ecb(aes_key, f2))[: len(aes_key)]
        emit(alg="aes_arqc", mk=h(aes_key), atc=h(atc), data=h(cdol), out=h(aes_cmac(aes_sk, cdol)[:8]))

        tree = random_tlv(rng)
        emit(alg="tlv", hex=h(tlv.encode(tree)), tree=render(tree))


if __name__ == "__main__":
    main()
