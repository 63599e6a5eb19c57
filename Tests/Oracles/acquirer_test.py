#!/usr/bin/env python3
"""An acquirer nobody at Passway wrote.

Against a running `passway serve`, over its public interfaces only:
  1. a bank is created at the bundled issuer host, an account opened, the issuer and a
     wallet onboarded (JSON over HTTP);
  2. a device is played here: its P-256 key made with `cryptography`, the sealed
     provisioning opened here (ECDH, HKDF-SHA-256, AES-256-GCM), so the single-use
     session keys are the ones Passway provisioned to this device;
  3. a contactless 0100 is built with `pyiso8583` (its standard 1987 spec), field 55's
     ARQC computed by `pyemv` from the session key of the first ATC, sent over TCP with
     the 2-byte length prefix, and the 0110 decoded with `pyiso8583`;
  4. the answer must be 00 with the token (not the card) in field 2 and an ARPC in tag 91
     that `pyemv` computes to the same bytes; the same cryptogram again (new STAN) must
     be declined, the ATC being spent;
  5. the acquirer's MAC key is unwrapped from its TR-31 block with `psec`; the connection
     signs on (0800, field 70 001) and every message carries its MAC in field 64 (128
     with a secondary bitmap), ISO 9797-1 MAC algorithm 3 computed by `pyemv` over the
     bytes `pyiso8583` encoded; every answer's MAC is checked the same way; a message
     whose MAC does not verify is answered 63. A second acquirer on the AES profile signs
     on with AES-CMAC computed by `cryptography`.

Exit status 0 when all holds; one line per failure otherwise.
"""
import argparse
import base64
import datetime
import json
import os
import random
import socket
import struct
import sys
import urllib.request

import iso8583
from iso8583.specs import default as SPEC
from pyemv import ac, tlv
from pyemv import mac as pyemv_mac
import psec
from psec import tr31
from cryptography.hazmat.primitives import cmac, hashes, serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def call(method, url, body=None, key=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def luhn_complete(prefix, length=16, rng=random.Random(20261125)):
    digits = prefix + "".join(rng.choice("0123456789") for _ in range(length - 1 - len(prefix)))
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return digits + str((10 - total % 10) % 10)


def open_provisioning(sealed, device_key):
    token_id = sealed["tokenID"].encode()
    ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), base64.b64decode(sealed["ephemeralPublicKey"]))
    shared = device_key.exchange(ec.ECDH(), ephemeral)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=token_id, info=b"passway/provisioning/v1").derive(shared)
    box = base64.b64decode(sealed["ciphertext"])
    return json.loads(AESGCM(key).decrypt(box[:12], box[12:], token_id))


def bcd(n, digits):
    return bytes.fromhex(str(n).zfill(digits))


def retail_mac(key):
    """ISO 9797-1 MAC algorithm 3, padding method 1, by pyemv."""
    return lambda data: pyemv_mac.mac_iso9797_3(key[:8], key[8:], data, 1)


def aes_cmac(key):
    """AES-CMAC (NIST SP 800-38B) by `cryptography`, its first 8 bytes."""
    def compute(data):
        c = cmac.CMAC(algorithms.AES(key))
        c.update(data)
        return c.finalize()[:8]
    return compute


def mac_field(doc):
    return "128" if any(k.isdigit() and 65 <= int(k) <= 127 for k in doc) else "64"


class Network:
    """A connection to the network's port. With `mac` set, every request carries its MAC
    (pyiso8583's bytes with an 8-byte placeholder in the MAC field, the MAC over all but
    those 8 bytes) and every answer's MAC is checked (`self.answer_macs_ok`)."""

    def __init__(self, host, port, mac=None):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.mac = mac
        self.answer_macs_ok = True

    def exchange(self, doc, tamper=None):
        doc = dict(doc)
        if self.mac:
            doc[mac_field(doc)] = "00" * 8  # pyiso8583 takes binary fields as hex
        raw, _ = iso8583.encode(doc, SPEC)
        raw = bytes(raw)
        if self.mac:
            raw = raw[:-8] + self.mac(raw[:-8])
        if tamper:
            raw = tamper(raw)
        self.sock.sendall(struct.pack(">H", len(raw)) + raw)
        head = self._read(2)
        body = self._read(struct.unpack(">H", head)[0])
        answer, _ = iso8583.decode(body, SPEC)
        if self.mac:
            field = "128" if "128" in answer else "64"
            if field not in answer or self.mac(body[:-8]) != body[-8:] or answer[field].upper() != body[-8:].hex().upper():
                self.answer_macs_ok = False
        return answer

    def sign_on(self, institution, stan):
        now = datetime.datetime.now(datetime.timezone.utc)
        return self.exchange({"t": "0800", "7": now.strftime("%m%d%H%M%S"), "11": stan, "32": institution, "70": "001"})

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("network closed the connection")
            data += chunk
        return data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--issuer-host", required=True)
    parser.add_argument("--network", required=True, help="host:port of the network's ISO 8583 listener")
    parser.add_argument("--operator-key", required=True)
    parser.add_argument("--issuer-host-operator-key", required=True)
    args = parser.parse_args()
    failures = []

    def expect(condition, what):
        print(("ok   " if condition else "FAIL ") + what)
        if not condition:
            failures.append(what)

    # 1. The participants, over HTTP.
    pan = luhn_complete("220099")
    status, bank = call("POST", args.issuer_host + "/banks", {"id": "py-bank", "cardRanges": ["220099"]}, args.issuer_host_operator_key)
    expect(status == 201 and "apiKey" in bank and "tokenServiceKey" in bank, "issuer host: bank created with its credentials")
    status, _ = call("POST", args.issuer_host + "/banks/py-bank/accounts", {
        "pan": pan, "expiry": "2912", "cvv2": "123", "holderName": "ANNA SMIRNOVA", "phone": "+79031234567", "currency": "RUB",
        "balanceMinor": 1_000_000}, bank["apiKey"])
    expect(status == 201, "issuer host: account opened")
    status, wallet = call("POST", args.api + "/v1/wallets", {"id": "py-wallet", "name": "Python Wallet", "tokenRequestorID": "40010077001"},
                          args.operator_key)
    expect(status == 201, "wallet onboarded")
    status, _ = call("POST", args.api + "/v1/issuers", {
        "id": "py-issuer", "name": "Python Bank", "country": "RU", "currency": "RUB", "cardRanges": ["220099"],
        "tokenRanges": ["22019977"], "enabledWallets": ["py-wallet"], "hostURL": args.issuer_host + "/banks/py-bank",
        "hostKey": bank["tokenServiceKey"]}, args.operator_key)
    expect(status == 201, "issuer onboarded")
    wallet_key = wallet["apiKey"]

    # The acquirer: its zone master key, shown once, then its MAC key as a TR-31 block
    # under it, which psec unwraps; the key's check value computed here with psec.
    status, acquirer = call("POST", args.api + "/v1/acquirers", {"id": "py-acquirer", "name": "Python Acquirer", "country": "RU",
                                                                 "institutionID": "25000077"}, args.operator_key)
    expect(status == 201 and len(acquirer.get("zoneMasterKey", "")) == 64, "acquirer onboarded with its zone master key")
    zmk = bytes.fromhex(acquirer["zoneMasterKey"])
    expect(psec.aes.encrypt_aes_ecb(zmk, b"\x00" * 16)[:3].hex().upper() == acquirer["zoneMasterKeyCheckValue"], "the ZMK's check value (psec)")
    status, delivery = call("POST", args.api + "/v1/acquirers/py-acquirer/mac-key", None, acquirer["apiKey"])
    expect(status == 201, "MAC key issued to the acquirer")
    block = tr31.KeyBlock(zmk).unwrap(delivery["keyBlock"])
    header = tr31.KeyBlock(zmk)
    header.unwrap(delivery["keyBlock"])
    expect(header.header.key_usage == "M3" and header.header.algorithm == "T" and header.header.mode_of_use == "C",
           "TR-31 header: M3, TDES, generate and verify")
    expect(psec.des.encrypt_tdes_ecb(block, b"\x00" * 8)[:3].hex().upper() == delivery["checkValue"],
           "psec unwraps the MAC key under the ZMK; its check value matches")
    mac_key = block

    # 2. The device, played here.
    device_key = ec.generate_private_key(ec.SECP256R1())
    public = device_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    status, device = call("POST", args.api + "/v1/devices", {"modelID": "google-pixel-8", "osVersion": "14", "country": "RU",
                                                             "publicKey": base64.b64encode(public).decode()}, wallet_key)
    expect(status == 201, "device registered")
    status, enrolled = call("POST", args.api + "/v1/enrollments", {"deviceID": device["id"], "pan": pan, "expiry": "12/29", "cvv2": "123"},
                            wallet_key)
    expect(status == 201 and enrolled.get("status") == "approved", "card enrolled (green)")
    payload = open_provisioning(enrolled["provisioning"], device_key)
    token = payload["tokenNumber"]
    first = min(payload["keys"], key=lambda k: k["atc"])
    session_key = bytes.fromhex(first["key"])
    expect(token.startswith("22019977") and token != pan, "provisioning opened here: a token, not the card")

    # 3. A contactless 0100 with pyemv's ARQC, built and read with pyiso8583.
    now = datetime.datetime.now(datetime.timezone.utc)
    amount = 123_456
    atc = bytes.fromhex("%04X" % first["atc"])
    terminal = {"9F02": bcd(amount, 12), "9F03": bcd(0, 12), "9F1A": bytes.fromhex("0643"), "95": bytes(5), "5F2A": bytes.fromhex("0643"),
                "9A": bytes.fromhex(now.strftime("%y%m%d")), "9C": b"\x00", "9F37": os.urandom(4)}
    aip = bytes.fromhex("1980")
    cdol1 = b"".join(terminal[t] for t in ["9F02", "9F03", "9F1A", "95", "5F2A", "9A", "9C", "9F37"]) + aip + atc
    arqc = ac.generate_ac(session_key, cdol1)
    chip = dict(terminal)
    chip.update({"82": aip, "9F36": atc, "9F26": arqc, "9F27": b"\x80", "9F10": bytes.fromhex("06010A03A00000")})
    field55 = tlv.encode(chip)

    def request(stan):
        return {
            "t": "0100", "2": token, "3": "000000", "4": str(amount).zfill(12), "7": now.strftime("%m%d%H%M%S"), "11": stan,
            "12": now.strftime("%H%M%S"), "13": now.strftime("%m%d"), "14": payload["expiry"], "18": "5411", "22": "071",
            "32": "25000077", "37": now.strftime("%y%j")[1:] + stan + "00", "41": "PYPOS001", "42": "PYTHON-MERCHANT",
            "43": "Python Acquirer Test     MOSCOW       RU", "49": "643", "55": field55.hex().upper(),
        }

    network_host, network_port = args.network.rsplit(":", 1)
    # Before sign-on, even a correctly MAC'd 0100 is refused.
    unsigned = Network(network_host, int(network_port), retail_mac(mac_key))
    expect(unsigned.exchange(request("000100")).get("39") == "63", "an 0100 on a connection that has not signed on: 63")
    network = Network(network_host, int(network_port), retail_mac(mac_key))
    signed = network.sign_on("25000077", "000001")
    expect(signed.get("t") == "0810" and signed.get("39") == "00", "signed on (0810, 00), MAC in field 128 (pyemv)")
    # A MAC that does not verify (one bit of it changed): 63, the ATC not spent.
    refused = network.exchange(request("000100"), tamper=lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]))
    expect(refused.get("39") == "63", "an 0100 whose MAC does not verify: 63 (%s)" % refused.get("39"))
    answer = network.exchange(request("000101"))
    expect(answer.get("t") == "0110", "answer is an 0110")
    expect(answer.get("39") == "00", "approved: field 39 = %s" % answer.get("39"))
    expect(answer.get("2") == token, "field 2 carries the token back, not the card number")
    expect(answer.get("11") == "000101" and answer.get("41") == "PYPOS001", "matched by STAN and terminal")
    expect(len(answer.get("38", "")) == 6, "approval code in field 38")
    icc = tlv.decode(bytes.fromhex(answer.get("55", "")))
    issuer_auth = icc.get("91", b"")
    expected_arpc = ac.generate_arpc_1(session_key, arqc, b"00")
    expect(issuer_auth == expected_arpc + b"00", "tag 91 = pyemv ARPC method 1 over the ARQC with ARC '00'")

    replay = network.exchange(request("000102"))
    expect(replay.get("39") not in (None, "00"), "the same cryptogram again is declined (%s)" % replay.get("39"))

    duplicate = network.exchange(request("000101"))
    expect(duplicate == answer, "the same 0100 again is answered identically")
    expect(network.answer_macs_ok, "every answer's MAC verifies (pyemv ISO 9797-1 MAC algorithm 3)")

    # An acquirer on the AES profile: AES-CMAC by `cryptography`.
    status, second = call("POST", args.api + "/v1/acquirers", {"id": "py-acquirer-aes", "name": "Python AES Acquirer", "country": "RU",
                                                               "institutionID": "25000078"}, args.operator_key)
    expect(status == 201, "AES acquirer onboarded")
    status, delivery = call("POST", args.api + "/v1/acquirers/py-acquirer-aes/mac-key", {"algorithm": "aes"}, second["apiKey"])
    opened = tr31.KeyBlock(bytes.fromhex(second["zoneMasterKey"]))
    aes_key = opened.unwrap(delivery["keyBlock"])
    expect(opened.header.key_usage == "M6" and opened.header.algorithm == "A" and len(aes_key) == 16,
           "TR-31 header: M6 (CMAC), AES-128 (psec)")
    expect(psec.aes.encrypt_aes_ecb(aes_key, b"\x00" * 16)[:3].hex().upper() == delivery["checkValue"], "the AES MAC key's check value (psec)")
    aes_network = Network(network_host, int(network_port), aes_cmac(aes_key))
    expect(aes_network.sign_on("25000078", "000002").get("39") == "00", "signed on with AES-CMAC")
    echo = aes_network.exchange({"t": "0800", "7": now.strftime("%m%d%H%M%S"), "11": "000003", "32": "25000078", "70": "301"})
    expect(echo.get("39") == "00" and aes_network.answer_macs_ok, "echo answered; the answers' CMACs verify")
    wrong = Network(network_host, int(network_port), retail_mac(mac_key))
    expect(wrong.sign_on("25000078", "000004").get("39") == "63", "a sign-on as the AES acquirer under another key: 63")

    if failures:
        print("%d failed" % len(failures))
        return 1
    print("acquirer test: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
