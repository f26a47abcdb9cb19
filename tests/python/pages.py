"""Vigil's web pages in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright for Python; Playwright's own browser download does not work here).

Usage: python3 pages.py --base http://127.0.0.1:PORT --alert-path /monitors/m?series=s
       --range 'from=…&to=…' --trace TRACE_ID [--screenshots DIR] [--token SECRET]

Visits every page, records console errors and page errors, reads the control chart's
limits and alarm markers, follows the alert link, creates a silence from the alerts page
(prefilled from the first alert), and reads the cost page's total. With --token, signs in
through /sign-in first. Prints one JSON line with what it saw; the Rust test asserts on it.
"""

import argparse
import json
import os

from playwright.sync_api import sync_playwright


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--alert-path", required=True)
    parser.add_argument("--range", required=True)
    parser.add_argument("--trace", required=True)
    parser.add_argument("--screenshots", default="")
    parser.add_argument("--token", default="")
    args = parser.parse_args()
    base, r = args.base.rstrip("/"), args.range
    out = {"console_errors": {}, "statuses": {}}

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        current = {"name": ""}

        def error(text: str) -> None:
            out["console_errors"].setdefault(current["name"], []).append(text)

        page.on("console", lambda m: error(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: error(str(e)))

        def visit(name: str, path: str) -> None:
            current["name"] = name
            response = page.goto(base + path)
            out["statuses"][name] = response.status if response else None
            page.wait_for_load_state("networkidle")
            if args.screenshots:
                os.makedirs(args.screenshots, exist_ok=True)
                page.screenshot(path=os.path.join(args.screenshots, f"{name}.png"), full_page=True)

        if args.token:
            current["name"] = "sign-in"
            page.goto(base + "/sign-in?next=/")
            page.fill("input[name=token]", args.token)
            page.click("form.sign-in button[type=submit]")
            page.wait_for_load_state("networkidle")
            out["signed_in_as"] = page.text_content("header .who strong")

        visit("overview", f"/?{r}")
        out["overview_firing"] = page.locator("tr[data-state=firing]").count()

        visit("monitor", args.alert_path)
        out["alert_link_title"] = page.text_content("main h1")
        out["control"] = {
            "upper_limits": page.locator("#control [data-limit=upper]").count(),
            "alarms": page.locator("#control [data-alarm]").count(),
        }

        monitor, _, query = args.alert_path.partition("?")
        visit("distribution", f"{monitor.replace('accuracy', 'confidence')}/distribution?{query}&{r}")
        visit("cost", f"/cost?{r}")
        total = page.locator("#total")
        out["cost_total"] = total.locator(".usd").first.get_attribute("data-usd")
        out["cost_unpriced"] = total.get_attribute("data-unpriced")

        visit("trace", f"/traces/{args.trace}")
        # Picking a span swaps the detail panel (htmx) without leaving the page.
        spans = page.locator("#waterfall [data-span-id]")
        out["trace_spans"] = spans.count()
        if spans.count() > 1:
            spans.nth(1).click()
            page.wait_for_load_state("networkidle")
            out["detail_heading"] = page.text_content("#detail h2")

        visit("alerts", "/alerts")
        current["name"] = "silence"
        page.goto(base + "/alerts?silence=0#new-silence")
        page.fill("#new-silence input[name=comment]", "silenced from the page")
        page.click("#new-silence button[type=submit]")
        page.wait_for_load_state("networkidle")
        out["after_silence_url"] = page.url
        browser.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
