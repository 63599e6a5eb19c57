#!/usr/bin/env python3
"""The operator's console in a real browser: Playwright for Python (PyPI) driving Debian's
Chromium, headless, against a `passway serve` of its own with traffic from `passway load`.

  1. /console sends a stranger to the sign-in page; a key that is not the operator's is
     refused; the operator's key opens the overview;
  2. the overview's authorizations, approvals and response codes equal what `/metrics`
     says (read with prometheus_client's parser) within one refresh, and keep equal
     while a second load runs with the page open (the figures are live);
  3. a market suspended from the console (a reason, then the confirmation step) refuses
     an enrollment through the API (422, reason market_suspended); resumed from the
     console, the same enrollment is approved;
  4. a form posted without its CSRF token is refused (403) and changes nothing;
  5. every page loads without a JavaScript error (CSP violations included) and without
     a horizontal scroll bar at a phone's width (390 px); the Russian overview is in
     Russian; signing out ends the session;
  6. a screenshot of each page, at desktop and phone widths, into --artifacts.

Exit status 0 when all holds; one line per failure otherwise.
"""
import argparse
import base64
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

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import sync_playwright
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acquirer_test import call, luhn_complete  # noqa: E402  (the acquirer oracle's HTTP call and Luhn digits)

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def metrics(api, key):
    request = urllib.request.Request(api + "/metrics", headers={"Authorization": "Bearer " + key})
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read().decode()
    total, codes = 0, {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "passway_authorizations_total":
                total += sample.value
                codes[sample.labels["rc"]] = codes.get(sample.labels["rc"], 0) + sample.value
    return int(total), {k: int(v) for k, v in codes.items()}


def start_serve(passway, work):
    data = os.path.join(work, "data")
    out_path, err_path = os.path.join(work, "serve.out"), os.path.join(work, "serve.log")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        server = subprocess.Popen([passway, "serve", "--port", "0", "--network-port", "0", "--issuer-host-port", "0", "--issuer-host-iso-port", "0",
                                   "--data-dir", data], stdout=out, stderr=err)
    endpoints = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(endpoints) < 3 and server.poll() is None:
        text = open(out_path).read()
        for key, pattern in [("api", r"^  API +(http:\S+)"), ("issuer_host", r"^  bundled issuer host +(http:\S+)"), ("network", r"^  network ISO 8583 +(\S+)")]:
            match = re.search(pattern, text, re.M)
            if match:
                endpoints[key] = match.group(1)
        time.sleep(0.2)
    return server, endpoints, data, err_path


def load(passway, endpoints, data, count):
    out = subprocess.run([passway, "load", "--api", endpoints["api"], "--network", endpoints["network"], "--issuer-host", endpoints["issuer_host"],
                          "--data-dir", data, "--tokens", "10", "--keys-per-token", str(count), "--count", str(count), "--connections", "2",
                          "--depth", "4"], capture_output=True, text=True, timeout=600)
    check(out.returncode == 0, f"passway load ran {count} authorizations")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--passway", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--artifacts", required=True, help="where the screenshots go")
    args = parser.parse_args()
    os.makedirs(args.artifacts, exist_ok=True)
    work = tempfile.mkdtemp(prefix="passway-console-")
    server, endpoints, data, log_path = start_serve(args.passway, work)
    if len(endpoints) < 3:
        print(open(log_path).read()[-2000:])
        print("FAIL passway serve did not start")
        return 1
    try:
        run(args, endpoints, data)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            check(server.wait(timeout=60) == 0, "passway serve stopped on SIGTERM with 0")
        except subprocess.TimeoutExpired:
            server.kill()
            check(False, "passway serve stopped on SIGTERM within 60 s")
    print(f"console: {len(failures)} failures; screenshots in {args.artifacts}")
    return 1 if failures else 0


def run(args, endpoints, data):
    api = endpoints["api"]
    operator = open(os.path.join(data, "operator.key")).read().strip()
    host_operator = open(os.path.join(data, "issuer-host-operator.key")).read().strip()

    # A bank, its cardholder, an issuer, a wallet and a phone in Russia: the enrollment
    # the suspension must refuse.
    pan = luhn_complete("220098")
    status, bank = call("POST", endpoints["issuer_host"] + "/banks", {"id": "pw-bank", "cardRanges": ["220098"]}, host_operator)
    check(status == 201, "bank created at the issuer host")
    status, _ = call("POST", endpoints["issuer_host"] + "/banks/pw-bank/accounts", {
        "pan": pan, "expiry": "2912", "cvv2": "123", "holderName": "IVAN PETROV", "phone": "+79031234599", "currency": "RUB",
        "balanceMinor": 1_000_000}, bank["apiKey"])
    check(status == 201, "account opened")
    status, wallet = call("POST", api + "/v1/wallets", {"id": "pw-wallet", "name": "Browser Wallet", "tokenRequestorID": "40010077002"}, operator)
    check(status == 201, "wallet onboarded")
    status, _ = call("POST", api + "/v1/issuers", {
        "id": "pw-issuer", "name": "Browser Bank", "country": "RU", "currency": "RUB", "cardRanges": ["220098"], "tokenRanges": ["22019966"],
        "enabledWallets": ["pw-wallet"], "hostURL": endpoints["issuer_host"] + "/banks/pw-bank", "hostKey": bank["tokenServiceKey"]}, operator)
    check(status == 201, "issuer onboarded")
    public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    status, device = call("POST", api + "/v1/devices", {"modelID": "google-pixel-8", "osVersion": "14", "country": "RU",
                                                        "publicKey": base64.b64encode(public).decode()}, wallet["apiKey"])
    check(status == 201, "phone registered in RU")

    def enroll():
        return call("POST", api + "/v1/enrollments", {"deviceID": device["id"], "pan": pan, "expiry": "12/29", "cvv2": "123"}, wallet["apiKey"])

    load(args.passway, endpoints, data, 300)

    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
        desktop = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        page = desktop.new_page()
        page.on("console", lambda m: errors.append(f"{page.url}: console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))

        page.goto(api + "/console")
        check(page.url.endswith("/console/sign-in"), f"a stranger is sent to the sign-in page ({page.url})")
        page.screenshot(path=os.path.join(args.artifacts, "sign-in.png"), full_page=True)
        page.fill("#key", "pwk_" + "x" * 40)
        page.click("#sign-in")
        check(page.locator("#signin-error").count() == 1, "a key that is not the operator's is refused")
        page.fill("#key", operator)
        page.click("#sign-in")
        check(page.url.endswith("/console/overview"), f"the operator's key opens the overview ({page.url})")

        def agrees():
            total, codes = metrics(api, operator)
            shown_codes = {}
            for row in page.locator("#codes tr").all():
                cells = row.locator("td").all_text_contents()
                if len(cells) == 2:
                    shown_codes[cells[0]] = int(cells[1])
            shown = int(page.text_content("#total") or "-1")
            return shown == total and shown_codes == codes and int(page.text_content("#approved") or "-1") == codes.get("00", 0), (shown, total, shown_codes, codes)

        def wait_agreement(what):
            deadline, state = time.monotonic() + 3, None  # one refresh is 1 s; 3 s allows a reconnect
            while time.monotonic() < deadline:
                ok, state = agrees()
                if ok:
                    break
                page.wait_for_timeout(250)
            check(agrees()[0], f"{what}: the overview equals /metrics within one refresh {state}")

        # The first live snapshot drawn (polled from here: the page's CSP rightly refuses the
        # string evaluation that Playwright's wait_for_function would use).
        deadline = time.monotonic() + 15
        while page.locator("#overview").get_attribute("data-updated") is None and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        check(page.locator("#overview").get_attribute("data-updated") is not None, "the overview receives live snapshots")
        wait_agreement("after 300 authorizations")
        check(page.text_content("#approval-rate") == "100.0%", f"approval rate of the last minute: {page.text_content('#approval-rate')}")
        load(args.passway, endpoints, data, 100)
        wait_agreement("after 100 more, the page left open")
        page.wait_for_timeout(1500)  # the charts drawn from a full snapshot
        page.screenshot(path=os.path.join(args.artifacts, "overview.png"), full_page=True)

        # A market suspended from the console, with its confirmation step.
        page.goto(api + "/console/markets")
        row = page.locator("#market-RU")
        row.locator("input[name=reason]").fill("sanctions drill")
        row.locator("button[type=submit]").click()
        check(page.text_content("#confirm-reason") == "sanctions drill", "the confirmation step repeats the reason")
        page.screenshot(path=os.path.join(args.artifacts, "markets-confirm.png"), full_page=True)
        status, _ = call("GET", api + "/v1/markets", None, operator)
        markets = {m["country"]: m for m in call("GET", api + "/v1/markets", None, operator)[1]}
        check(markets["RU"]["state"] != "suspended", "nothing is suspended before the confirmation")
        page.click("#confirm")
        check(page.url.endswith("/console/markets") and "suspended" in (page.locator("#market-RU").get_attribute("id") and page.text_content("#market-RU")),
              "the market shows suspended")
        page.screenshot(path=os.path.join(args.artifacts, "markets.png"), full_page=True)
        status, refused = enroll()
        check(status == 422 and refused.get("reason") == "market_suspended", f"an enrollment in the suspended market is refused: {status} {refused.get('reason')}")

        # A form without its CSRF token: refused, nothing changed.
        answer = page.request.post(api + "/console/markets/RU/resume", form={"state": "live"})
        check(answer.status == 403, f"a form without its CSRF token: {answer.status}")
        markets = {m["country"]: m for m in call("GET", api + "/v1/markets", None, operator)[1]}
        check(markets["RU"]["state"] == "suspended", "and the market is still suspended")

        page.goto(api + "/console/markets")
        page.locator("#market-RU select[name=state]").select_option("live")
        page.locator("#market-RU button[type=submit]").click()
        markets = {m["country"]: m for m in call("GET", api + "/v1/markets", None, operator)[1]}
        check(markets["RU"]["state"] == "live", "resumed from the console: live again")
        status, enrolled = enroll()
        check(status == 201 and enrolled.get("status") == "approved", f"the same enrollment is approved once resumed: {status}")
        last_four = enrolled.get("token", {}).get("maskedNumber", "")[-4:]

        # The other pages, with what they should show.
        page.goto(api + "/console/participants")
        check("pw-issuer" in page.text_content("#issuers"), "issuers listed")
        page.screenshot(path=os.path.join(args.artifacts, "participants.png"), full_page=True)
        page.click("#onboard-acquirer >> xpath=..//summary")
        form = page.locator("#onboard-acquirer")
        form.locator("input[name=id]").fill("pw-acquirer")
        form.locator("input[name=name]").fill("Browser Acquirer")
        form.locator("input[name=country]").fill("RU")
        form.locator("input[name=institutionID]").fill("25000066")
        form.locator("button[type=submit]").click()
        secrets = dict(zip(page.locator("#secrets th").all_text_contents(), page.locator("#secrets td").all_text_contents()))
        page.screenshot(path=os.path.join(args.artifacts, "onboarded.png"), full_page=True)
        status, _ = call("GET", api + "/v1/exchange-rates", None, secrets.get("apiKey", "none"))
        check(status == 200 and len(secrets.get("zoneMasterKey", "")) == 64, "an acquirer onboarded from the console: its key shown once works, its ZMK shown")
        check(any(a["id"] == "pw-acquirer" for a in call("GET", api + "/v1/acquirers", None, operator)[1]), "and the API lists it")
        page.goto(api + f"/console/tokens?last4={last_four}&issuer=pw-issuer")
        text = page.text_content("#tokens") or ""
        check(last_four != "" and last_four in text and pan not in page.content(), "a token found by its last four digits, masked, never the card number")
        page.screenshot(path=os.path.join(args.artifacts, "tokens.png"), full_page=True)
        page.goto(api + "/console/money")
        page.screenshot(path=os.path.join(args.artifacts, "money.png"), full_page=True)
        page.goto(api + "/console/queues")
        check(page.text_content("#unanswered") == "0", "no claim without an answer")
        page.screenshot(path=os.path.join(args.artifacts, "queues.png"), full_page=True)
        page.goto(api + "/console/overview?lang=ru")
        check(page.text_content("h1") == "Обзор", f"the Russian overview: {page.text_content('h1')}")
        page.screenshot(path=os.path.join(args.artifacts, "overview-ru.png"), full_page=True)
        page.goto(api + "/console/overview?lang=en")

        # A phone's width: no page scrolls sideways.
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2,
                                    storage_state=desktop.storage_state())
        mobile = phone.new_page()
        mobile.on("console", lambda m: errors.append(f"{mobile.url}: console {m.type}: {m.text}") if m.type == "error" else None)
        mobile.on("pageerror", lambda e: errors.append(f"{mobile.url}: {e}"))
        for name in ["overview", "participants", "markets", "tokens", "money", "queues"]:
            mobile.goto(api + "/console/" + name)
            check(mobile.url.endswith("/console/" + name), f"{name} at a phone's width, signed in")
            overflow = mobile.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            check(overflow <= 0, f"{name} fits a phone's width (overflow {overflow} px)")
            mobile.screenshot(path=os.path.join(args.artifacts, f"phone-{name}.png"), full_page=True)
        phone.close()

        page.goto(api + "/console/overview")
        page.click(".signout button")
        check(page.url.endswith("/console/sign-in"), "signed out")
        page.goto(api + "/console/overview")
        check(page.url.endswith("/console/sign-in"), "the session is gone after signing out")
        browser.close()
    check(errors == [], f"no JavaScript errors: {errors[:5]}")


if __name__ == "__main__":
    sys.exit(main())
