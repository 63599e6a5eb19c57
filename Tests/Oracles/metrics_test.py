#!/usr/bin/env python3
"""`/metrics` and `--log-format json` read by code nobody at Passway wrote.

Starts its own `passway serve` (free ports, a fresh data directory, JSON logs), then:
  1. `/metrics` without a credential is 401; with the operator's it is `text/plain;
     version=0.0.4` that `prometheus_client`'s parser (PyPI) reads whole;
  2. `passway load` sends authorizations over the real sockets; the next scrape's
     `passway_authorizations_total`, summed per response code, equals what the load
     counted per code, and the latency histogram counts them all with its buckets
     cumulative and its `+Inf` bucket equal to its count;
  3. a second load moves the counters by exactly its own count (they move with the
     load, never backwards);
  4. after the server stops, every line it wrote to standard error is a JSON object
     (Python's `json`) with time, level, label and message.

Exit status 0 when all holds; one line per failure otherwise.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def scrape(api, key):
    request = urllib.request.Request(api + "/metrics", headers={"Authorization": "Bearer " + key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read().decode("utf-8", "replace")


def families(text):
    return {family.name: family for family in text_string_to_metric_families(text)}


def authorizations_by_code(parsed):
    counts = {}
    family = parsed.get("passway_authorizations")
    for sample in (family.samples if family else []):
        if sample.name == "passway_authorizations_total":
            code = sample.labels["rc"]
            counts[code] = counts.get(code, 0) + sample.value
    return counts


def check_histogram(parsed, name, label, expected_count):
    family = parsed.get(name)
    check(family is not None and family.type == "histogram", f"{name} is a histogram")
    if family is None:
        return
    buckets = [(float(s.labels["le"]), s.value) for s in family.samples if s.name == name + "_bucket" and s.labels.get("mti") == label]
    count = [s.value for s in family.samples if s.name == name + "_count" and s.labels.get("mti") == label]
    check(len(buckets) >= 5, f"{name}: buckets present ({len(buckets)})")
    buckets.sort()
    check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), f"{name}: buckets cumulative")
    check(buckets and buckets[-1][0] == float("inf") and count and buckets[-1][1] == count[0], f"{name}: +Inf bucket equals the count")
    check(count and count[0] == expected_count, f"{name}: count {count} == {expected_count} authorizations")


def load(passway, endpoints, data, count, presentments=None):
    out = subprocess.run([passway, "load", "--api", endpoints["api"], "--network", endpoints["network"], "--issuer-host", endpoints["issuer_host"],
                          "--data-dir", data, "--tokens", "10", "--keys-per-token", str(count), "--count", str(count), "--connections", "2",
                          "--depth", "4", "--json"] + (["--presentments", presentments] if presentments else []), capture_output=True, text=True, timeout=600)
    check(out.returncode == 0, f"passway load exited {out.returncode}: {out.stderr[-500:]}")
    report = json.loads(out.stdout) if out.returncode == 0 else {"response_codes": {}}
    return {code: float(n) for code, n in report["response_codes"].items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--passway", required=True, help="the passway executable")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="passway-metrics-")
    data = os.path.join(work, "data")
    stdout_path, stderr_path = os.path.join(work, "serve.out"), os.path.join(work, "serve.err")
    with open(stdout_path, "w") as out, open(stderr_path, "w") as err:
        server = subprocess.Popen([args.passway, "serve", "--port", "0", "--network-port", "0", "--issuer-host-port", "0", "--issuer-host-iso-port", "0",
                                   "--data-dir", data, "--log-format", "json"], stdout=out, stderr=err)
    try:
        endpoints = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(endpoints) < 3:
            text = open(stdout_path).read()
            for key, pattern in [("api", r"^  API +(http:\S+)"), ("issuer_host", r"^  bundled issuer host +(http:\S+)"), ("network", r"^  network ISO 8583 +(\S+)")]:
                match = re.search(pattern, text, re.M)
                if match:
                    endpoints[key] = match.group(1)
            if server.poll() is not None:
                break
            time.sleep(0.2)
        if len(endpoints) < 3:
            print(open(stderr_path).read()[-2000:], file=sys.stderr)
            print("FAIL: passway serve did not start", file=sys.stderr)
            return 1
        api = endpoints["api"]
        operator_key = open(os.path.join(data, "operator.key")).read().strip()

        status, _, _ = scrape(api, None)
        check(status == 401, f"/metrics without a credential: {status}, expected 401")
        status, content_type, text = scrape(api, operator_key)
        check(status == 200, f"/metrics: {status}")
        check(content_type.startswith("text/plain; version=0.0.4"), f"content type {content_type!r}")
        families(text)  # the parser raises on anything it cannot read

        first = load(args.passway, endpoints, data, 300)
        check(sum(first.values()) == 300 and first.get("00", 0) == 300, f"the load's answers: {first}")
        parsed = families(scrape(api, operator_key)[2])
        counted = authorizations_by_code(parsed)
        check(counted == first, f"passway_authorizations_total per code {counted} == the load's {first}")
        check(parsed.get("passway_authorizations") is not None and parsed["passway_authorizations"].type == "counter", "passway_authorizations is a counter")
        check_histogram(parsed, "passway_authorization_duration_seconds", "0100", 300)
        tokens = sum(s.value for s in parsed["passway_tokens"].samples) if "passway_tokens" in parsed else 0
        check(tokens == 10, f"passway_tokens sums to the 10 tokens provisioned ({tokens})")
        links = [s.value for s in parsed["passway_issuer_link_up"].samples] if "passway_issuer_link_up" in parsed else []
        check(links == [1.0], f"one issuer link, up: {links}")

        second = load(args.passway, endpoints, data, 120, presentments=os.path.join(work, "presentments.ipm"))
        parsed = families(scrape(api, operator_key)[2])
        again = authorizations_by_code(parsed)
        moved = {code: again.get(code, 0) - counted.get(code, 0) for code in again}
        check(moved == second, f"the counters moved by the second load's {second}: {moved}")
        # Its approvals presented in a clearing file: cleared, and the open window's positions net to zero.
        cleared = [s.value for s in parsed["passway_presentments"].samples if s.name == "passway_presentments_total" and s.labels["outcome"] == "cleared"] \
            if "passway_presentments" in parsed else []
        check(cleared == [second.get("00", 0)], f"passway_presentments_total cleared {cleared} == the second load's approvals")
        positions = [s.value for s in parsed["passway_settlement_open_position_minor"].samples] if "passway_settlement_open_position_minor" in parsed else []
        check(len(positions) >= 2 and sum(positions) == 0 and any(v > 0 for v in positions),
              f"open window positions: issuer pays, acquirer and network receive, summing to 0: {positions}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            failures.append("passway serve did not stop on SIGTERM")

    lines = open(stderr_path).read().splitlines()
    check(len(lines) > 5, f"the server logged ({len(lines)} lines)")
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            check(False, f"log line {number} is not JSON: {line[:200]!r}")
            continue
        check(isinstance(record, dict) and all(isinstance(record.get(k), str) for k in ("time", "level", "label", "message")),
              f"log line {number} has time, level, label and message: {line[:200]!r}")
    if not failures:
        print(f"metrics: prometheus_client parsed every scrape; counters moved with 300 + 120 authorizations; {len(lines)} JSON log lines")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
