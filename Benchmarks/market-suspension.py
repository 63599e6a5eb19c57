#!/usr/bin/env python3
"""A market suspended at scale (BENCHMARKS.md "A market suspended"): N tokens of one
Russian bank on Russian phones through bulk provisioning, then `PUT /v1/markets/RU`
suspended, the issuer notices' drain rate over a minute, and the lift, each timed over
HTTP against a fresh `passway serve` on the default ports.

    passway serve --data-dir DIR &          # a fresh directory
    python3 Benchmarks/market-suspension.py PATH/TO/passway N DIR
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

BIN = sys.argv[1]; N = int(sys.argv[2]); DATA = sys.argv[3]
API = "http://127.0.0.1:8080"

def call(method, path, key, body=None, timeout=3600):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method, headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read(); return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")

def luhn(prefix, n):
    digits = prefix + str(n).rjust(15 - len(prefix), "0")
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9: d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)

op = open(os.path.join(DATA, "operator.key")).read().strip()
ihop = open(os.path.join(DATA, "issuer-host-operator.key")).read().strip()
s, w = call("POST", "/v1/wallets", op, {"id": "mirpay", "name": "MirPay", "tokenRequestorID": "40010075001"})
wallet = w["apiKey"]
req = urllib.request.Request("http://127.0.0.1:8090/banks", data=json.dumps({"id": "moskva", "cardRanges": ["220070"]}).encode(), method="POST",
                             headers={"Authorization": "Bearer " + ihop, "Content-Type": "application/json"})
bank = json.loads(urllib.request.urlopen(req).read())
s, i = call("POST", "/v1/issuers", op, {"id": "moskva-bank", "name": "Moskva Bank", "country": "RU", "currency": "RUB", "cardRanges": ["220070"],
                                         "tokenRanges": ["22017099"], "enabledWallets": ["mirpay"], "hostURL": "http://127.0.0.1:8090/banks/moskva",
                                         "hostKey": bank["tokenServiceKey"]})
assert s == 201, i
# Devices: a registered phone's public key from `passway device register`.
devices = []
for d in range(max(1, N // 100_000)):
    state = os.path.join(DATA, f"phone{d}.json")
    if os.path.exists(state): os.remove(state)
    subprocess.run([BIN, "device", "register", "--state", state, "--server", API, "--api-key", wallet, "--model", "samsung-galaxy-s24",
                    "--os", "14", "--country", "RU"], check=True, capture_output=True)
    devices.append(json.load(open(state))["wallet"]["deviceID"])
t0 = time.time()
for b in range(N // 1000):
    cards = [{"pan": luhn("220070", b * 1000 + k), "expiry": "12/29"} for k in range(1000)]
    s, r = call("POST", "/v1/issuers/moskva-bank/bulk-tokens", op, {"walletID": "mirpay", "deviceID": devices[b % len(devices)], "keysPerToken": 1, "cards": cards})
    assert s == 201, (s, r)
    if b % 50 == 0: print(f"  {(b + 1) * 1000} tokens, {time.time() - t0:.0f} s", flush=True)
print(f"provisioned {N} tokens in {time.time() - t0:.1f} s", flush=True)
t1 = time.time()
s, m = call("PUT", "/v1/markets/RU", op, {"state": "suspended", "reason": "rehearsal"})
print(f"suspend: {s} in {time.time() - t1:.1f} s", flush=True)
s, toks = call("GET", "/v1/tokens?deviceID=" + devices[0], wallet)
print("first device's tokens suspended:", sum(1 for t in toks if t["status"] == "suspended"), "of", len(toks), flush=True)
# Notice drain: the outbox depth over a minute.
def depth():
    s, q = call("GET", "/v1/operations/queues", op)
    return sum(x.get("queued", 0) for x in (q.get("issuerNotices", []) if isinstance(q, dict) else []))
d0 = depth(); t2 = time.time(); time.sleep(60); d1 = depth()
print(f"notices queued {d0} → {d1} in {time.time() - t2:.0f} s: {(d0 - d1) / (time.time() - t2):.0f}/s", flush=True)
t3 = time.time()
s, m = call("PUT", "/v1/markets/RU", op, {"state": "live"})
print(f"lift: {s} in {time.time() - t3:.1f} s", flush=True)
s, toks = call("GET", "/v1/tokens?deviceID=" + devices[0], wallet)
print("first device's tokens active:", sum(1 for t in toks if t["status"] == "active"), "of", len(toks), flush=True)
