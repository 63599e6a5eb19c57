#!/usr/bin/env python3
"""Independent EMVCo merchant-presented QR payloads (EMV QRCPS) for Passway's tests,
built and read by `cemacqr` (PyPI), which nobody at Passway wrote.

  --mode build --seed N --count N: random merchants (names and cities in Latin and
      Cyrillic letters), each payload built by cemacqr with its CRC; one JSON line each
      with the payload and the fields that went in;
  --mode read: JSON lines {"payload": ...} on stdin, each read by cemacqr; one JSON line
      each with its CRC verdict and the fields it found;
  --mode merchant: one JSON object on stdin (acquirer, merchant, terminal, mcc, currency,
      amount, country, name, city), the payload cemacqr builds for it on stdout;
  --mode cpm-read: JSON lines {"payload": ...} on stdin, consumer-presented codes (base64
      BER-TLV), each read with Python's base64 and pyemv's TLV codec: one JSON line each,
      the format indicator and every tag of templates 61 and 63 in hex;
  --mode cpm-build: JSON lines {"aid", "label", "track2", "psn", "data": [[tag, hex]...]}
      on stdin, each encoded by pyemv (85 CPV01, 61 {4F, 50, 57, 5F34, 63 {data}}) and
      base64: one JSON line each with its payload.
"""
import argparse
import json
import random
import sys

try:
    import base64
    import cemacqr
    from cemacqr import Tlv
    from pyemv import tlv as emvtlv
except ImportError as error:  # the Swift test turns this into a loud failure
    print(json.dumps({"error": f"missing oracle package: {error}"}))
    sys.exit(3)

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "АБВГДЕЖЗИКЛМНОПРСТУФХЦЧШЭЮЯ"


def word(rng, low, high):
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(low, high)))


def tlv_text(fields):
    return "".join(Tlv(tag, value).as_text() for tag, value in sorted(fields.items()))


def build(seed, count):
    rng = random.Random(seed)
    for _ in range(count):
        account = {"00": "RU.PASSWAY", "01": "".join(rng.choice("0123456789") for _ in range(8)),
                   "02": word(rng, 4, 15), "03": "".join(rng.choice("0123456789ABCDEF") for _ in range(8))}
        fields = {"pointOfInitiation": rng.choice(["11", "12"]), "mcc": rng.choice(["5411", "5812", "5999", "4111"]),
                  "currency": rng.choice(["643", "156", "933", "398"]), "country": rng.choice(["RU", "CN", "BY", "KZ"]),
                  "name": word(rng, 1, 25), "city": word(rng, 1, 15)}
        amount = None if rng.random() < 0.3 else "%d.%02d" % (rng.randint(0, 99999), rng.randint(0, 99))
        additional = {"05": word(rng, 1, 20), "07": word(rng, 1, 8)} if rng.random() < 0.6 else {}
        objects = [Tlv("00", "01"), Tlv("01", fields["pointOfInitiation"]), Tlv("26", tlv_text(account)), Tlv("52", fields["mcc"]),
                   Tlv("53", fields["currency"])]
        if amount:
            objects.append(Tlv("54", amount))
        objects += [Tlv("58", fields["country"]), Tlv("59", fields["name"]), Tlv("60", fields["city"])]
        if additional:
            objects.append(Tlv("62", tlv_text(additional)))
        qr = cemacqr.build(objects)
        print(json.dumps(dict(fields, payload=qr.to_string(), amount=amount, account=account, additional=additional, crcOK=qr.crc_ok),
                         ensure_ascii=False))


def read():
    for line in sys.stdin:
        if not line.strip():
            continue
        payload = json.loads(line)["payload"]
        try:
            qr = cemacqr.EmvQr.parse(payload)
        except cemacqr.CemacQrError as error:
            print(json.dumps({"syntaxError": str(error)}))
            continue
        print(json.dumps({"crcOK": qr.crc_ok, "pointOfInitiation": qr.point_of_initiation, "mcc": qr.merchant_category_code,
                          "currency": qr.currency, "amount": qr.amount, "country": qr.country_code, "name": qr.merchant_name,
                          "city": qr.merchant_city, "account": qr.template("26"), "additional": qr.template("62")}, ensure_ascii=False))


def merchant():
    m = json.loads(sys.stdin.read())
    account = {"00": "RU.PASSWAY", "01": m["acquirer"], "02": m["merchant"], "03": m["terminal"]}
    objects = [Tlv("00", "01"), Tlv("01", "12"), Tlv("26", tlv_text(account)), Tlv("52", m["mcc"]), Tlv("53", m["currency"]),
               Tlv("54", m["amount"]), Tlv("58", m["country"]), Tlv("59", m["name"]), Tlv("60", m["city"])]
    qr = cemacqr.build(objects)
    print(json.dumps({"payload": qr.to_string(), "crcOK": qr.crc_ok}, ensure_ascii=False))


def cpm_read():
    for line in sys.stdin:
        if not line.strip():
            continue
        raw = base64.b64decode(json.loads(line)["payload"], validate=True)
        decoded = emvtlv.decode(raw)
        application = decoded["61"]
        out = {"85": decoded["85"].hex().upper()}
        for tag, value in application.items():
            if tag != "63":
                out[tag] = value.hex().upper()
        for tag, value in application["63"].items():
            out[tag] = value.hex().upper()
        print(json.dumps(out))


def cpm_build():
    for line in sys.stdin:
        if not line.strip():
            continue
        c = json.loads(line)
        data = {tag: bytes.fromhex(value) for tag, value in c["data"]}
        application = {"4F": bytes.fromhex(c["aid"]), "50": c["label"].encode(), "57": bytes.fromhex(c["track2"]),
                       "5F34": bytes.fromhex(c["psn"]), "63": data}
        raw = emvtlv.encode({"85": b"CPV01", "61": application})
        print(json.dumps({"payload": base64.b64encode(raw).decode()}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["build", "read", "merchant", "cpm-read", "cpm-build"], required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    args = parser.parse_args()
    {"build": lambda: build(args.seed, args.count), "read": read, "merchant": merchant, "cpm-read": cpm_read, "cpm-build": cpm_build}[args.mode]()


if __name__ == "__main__":
    main()
