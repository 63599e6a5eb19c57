#!/usr/bin/env python3
"""A market suspended at scale (BENCHMARKS.md "A market suspended").

N tokens of one Russian bank on Russian phones (bulk provisioning), plus one phone with a
real card that pays a merchant's QR code through each node. Then `PUT /v1/markets/RU`
suspended: the answer's time, the first `05` on each node, the sweep followed on
`GET /v1/markets/RU` to its end, the issuer outbox drained to the bundled bank; then the
lift the same way, and the token counts by status before and after.

    passway serve --data-dir DIR &                # a fresh directory (or two PostgreSQL nodes)
    python3 Benchmarks/market-suspension.py PATH/TO/passway N DIR [API ...]

The first API (default http://127.0.0.1:8080) does the setup; every API given gets the
payments. DIR is the first node's data directory (its operator keys are read there).
BANK_URL names that node's bundled bank when it is not on 8090; DRAIN_LIMIT=S stops
timing the suspension's notices after S seconds, DRAIN_LIFT=1 times the lift's to the
last (otherwise for a minute).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

BIN = sys.argv[1]; N = int(sys.argv[2]); DATA = sys.argv[3]
APIS = sys.argv[4:] or ["http://127.0.0.1:8080"]
API = APIS[0]
BANK_URL = os.environ.get("BANK_URL", "http://127.0.0.1:8090")  # the first node's bundled bank
DRAIN_LIFT = os.environ.get("DRAIN_LIFT") == "1"
DRAIN_LIMIT = int(os.environ["DRAIN_LIMIT"]) if os.environ.get("DRAIN_LIMIT") else None

def call(method, path, key, body=None, timeout=3600, api=API, headers=None):
    data = None if body is None else json.dumps(body).encode()
    h = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(api + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read(); return r.status, (json.loads(raw) if raw and r.headers.get_content_type() == "application/json" else raw)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")

def luhn(prefix, n, length=16):
    digits = prefix + str(n).rjust(length - 1 - len(prefix), "0")
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9: d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)

def run(*args):
    return subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout.strip()

op = open(os.path.join(DATA, "operator.key")).read().strip()
ihop = open(os.path.join(DATA, "issuer-host-operator.key")).read().strip()
s, w = call("POST", "/v1/wallets", op, {"id": "mirpay", "name": "MirPay", "tokenRequestorID": "40010075001"})
wallet = w["apiKey"]
req = urllib.request.Request(BANK_URL + "/banks", data=json.dumps({"id": "moskva", "cardRanges": ["220070"]}).encode(), method="POST",
                             headers={"Authorization": "Bearer " + ihop, "Content-Type": "application/json"})
bank = json.loads(urllib.request.urlopen(req).read())
s, i = call("POST", "/v1/issuers", op, {"id": "moskva-bank", "name": "Moskva Bank", "country": "RU", "currency": "RUB", "cardRanges": ["220070"],
                                         "tokenRanges": ["22017099"], "enabledWallets": ["mirpay"], "hostURL": BANK_URL + "/banks/moskva",
                                         "hostKey": bank["tokenServiceKey"]})
assert s == 201, i

# The paying phone: a real card with an account at the bank, a merchant's QR code at GUM.
pan = "2200701234567896"
req = urllib.request.Request(BANK_URL + "/banks/moskva/accounts", method="POST", headers={"Authorization": "Bearer " + bank["apiKey"], "Content-Type": "application/json"},
                             data=json.dumps({"pan": pan, "expiry": "2912", "cvv2": "321", "holderName": "ANNA IVANOVA", "phone": "+79031234567",
                                              "currency": "RUB", "balanceMinor": 10_000_000}).encode())
urllib.request.urlopen(req).read()
s, _ = call("POST", "/v1/acquirers", op, {"id": "gum", "name": "GUM Acquiring", "country": "RU", "institutionID": "25000001"})
assert s in (200, 201), s
payer = os.path.join(DATA, "payer.json")
if os.path.exists(payer): os.remove(payer)
run("device", "register", "--state", payer, "--server", API, "--api-key", wallet, "--model", "samsung-galaxy-s24", "--os", "14", "--country", "RU")
run("device", "add-card", "--state", payer, "--pan", pan, "--expiry", "12/29", "--cvv2", "321")
code = run("qr", "merchant", "--name", "GUM", "--city", "MOSCOW", "--mcc", "5311", "--currency", "RUB", "--acquirer", "25000001",
           "--merchant", "GUM-DEPARTMENT1", "--terminal", "MSK00001", "--amount", "1.00")

def pay(node):
    """One QR payment through node `node` (the same phone, its state pointed at that node's
    API): (response code, seconds)."""
    doc = json.load(open(payer))
    doc["server"] = APIS[node]
    with open(os.open(payer, os.O_WRONLY | os.O_TRUNC, 0o600), "w") as f: json.dump(doc, f)
    t = time.time()
    out = subprocess.run([BIN, "device", "qr-pay", "--state", payer, code], capture_output=True, text=True).stdout
    m = re.search(r": (\d\d)(,|$)", out.strip())
    return (m.group(1) if m else out.strip() or "?"), time.time() - t

def counts():
    s, text = call("GET", "/metrics", op)
    text = text.decode() if isinstance(text, bytes) else str(text)
    out = {}
    for line in text.splitlines():
        m = re.match(r'passway_tokens\{market="RU",status="(\w+)"\} (\S+)', line)
        if m: out[m.group(1)] = int(float(m.group(2)))
    return out

def depth():
    s, q = call("GET", "/v1/operations/queues", op)
    return sum(x.get("queued", 0) for x in (q.get("issuerNotices", []) if isinstance(q, dict) else []))

def follow(what, started):
    """Follows the market's sweep on GET until it finishes: its server-side duration."""
    last = time.time()
    while True:
        s, m = call("GET", "/v1/markets/RU", op)
        sweep = m.get("sweep") or {}
        if sweep.get("finishedAt"):
            print(f"{what} sweep finished: {sweep['tokens']} tokens, {time.time() - started:.1f} s after the PUT", flush=True)
            return sweep
        if time.time() - last >= 60:
            print(f"  {what} sweep: {sweep.get('tokens')} tokens after {time.time() - started:.0f} s; notices queued {depth()}", flush=True)
            last = time.time()
        time.sleep(1)

def drain(what, started, limit=None):
    last = time.time(); d0 = depth(); t0 = time.time()
    while True:
        d = depth()
        if d == 0:
            print(f"{what} notices all delivered {time.time() - started:.1f} s after the PUT ({d0} were queued when the sweep ended, "
                  f"{d0 / max(time.time() - t0, 0.001):.0f}/s since)", flush=True)
            return
        if limit and time.time() - t0 >= limit:
            print(f"{what} notices: {d0 - d} delivered in {time.time() - t0:.0f} s ({(d0 - d) / (time.time() - t0):.0f}/s), {d} still queued", flush=True)
            return
        if time.time() - last >= 60:
            print(f"  {what} notices queued: {d}", flush=True); last = time.time()
        time.sleep(1)

# The bulk tokens, on one phone per 100,000.
devices = []
for d in range(max(1, N // 100_000)):
    state = os.path.join(DATA, f"phone{d}.json")
    if os.path.exists(state): os.remove(state)
    run("device", "register", "--state", state, "--server", API, "--api-key", wallet, "--model", "samsung-galaxy-s24", "--os", "14", "--country", "RU")
    devices.append(json.load(open(state))["wallet"]["deviceID"])
t0 = time.time()
for b in range(N // 1000):
    cards = [{"pan": luhn("220070", b * 1000 + k), "expiry": "12/29"} for k in range(1000)]
    s, r = call("POST", "/v1/issuers/moskva-bank/bulk-tokens", op, {"walletID": "mirpay", "deviceID": devices[b % len(devices)], "keysPerToken": 1, "cards": cards})
    assert s == 201, (s, r)
    if b % 100 == 0: print(f"  {(b + 1) * 1000} tokens, {time.time() - t0:.0f} s", flush=True)
print(f"provisioned {N} tokens in {time.time() - t0:.1f} s", flush=True)
before = counts()
print("tokens in RU before:", before, flush=True)
for n in range(len(APIS)): print(f"node {n}: a payment before the suspension: {pay(n)[0]}", flush=True)

t1 = time.time()
s, m = call("PUT", "/v1/markets/RU", op, {"state": "suspended", "reason": "rehearsal"})
print(f"suspend: {s} in {time.time() - t1:.3f} s", flush=True)
for n in range(len(APIS)):
    rc, took = pay(n)
    print(f"node {n}: the first payment after the answer: {rc}, {time.time() - t1:.3f} s after the PUT was sent (the payment took {took:.3f} s)", flush=True)
sweep = follow("suspension", t1)
drain("suspension", t1, limit=DRAIN_LIMIT)
during = counts()
print("tokens in RU suspended:", during, flush=True)

t3 = time.time()
s, m = call("PUT", "/v1/markets/RU", op, {"state": "live"})
print(f"lift: {s} in {time.time() - t3:.3f} s", flush=True)
sweep = follow("lift", t3)
for n in range(len(APIS)): print(f"node {n}: a payment after the lift's sweep: {pay(n)[0]}", flush=True)
drain("lift", t3, limit=None if DRAIN_LIFT else 60)
after = counts()
print("tokens in RU after:", after, flush=True)
nonzero = lambda c: {k: v for k, v in c.items() if v}
print("restored exactly:", nonzero(after) == nonzero(before), flush=True)
