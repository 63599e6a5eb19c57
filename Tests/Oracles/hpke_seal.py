#!/usr/bin/env python3
"""Seals a card for push provisioning with `pyhpke` (PyPI), an HPKE (RFC 9180)
implementation nobody at Passway wrote, as a bank's server would: base mode,
DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, to the token service's public key.

Input (stdin, one JSON object): {"publicKey": base64 X9.63, "info": text, "aad": text,
"card": object}. Output: {"encapsulatedKey", "ciphertext"} in base64.
"""
import base64
import json
import sys

try:
    from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey
except ImportError as error:  # the Swift test turns this into a loud failure
    print(json.dumps({"error": f"missing oracle package: {error}"}))
    sys.exit(3)


def main():
    request = json.loads(sys.stdin.read())
    suite = CipherSuite.new(KEMId.DHKEM_P256_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)
    key = KEMKey.from_pyca_cryptography_key(_public_key(base64.b64decode(request["publicKey"])))
    enc, sender = suite.create_sender_context(key, info=request["info"].encode())
    ciphertext = sender.seal(json.dumps(request["card"]).encode(), aad=request["aad"].encode())
    print(json.dumps({"encapsulatedKey": base64.b64encode(enc).decode(), "ciphertext": base64.b64encode(ciphertext).decode()}))


def _public_key(x963):
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), x963)


if __name__ == "__main__":
    main()
