"""A web page on another origin attacks Vigil's API the two ways a browser allows.

Usage: python3 cross_origin.py --api http://127.0.0.1:PORT
Serves an attacker page from its own 127.0.0.1 port, opens it in headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright) and tries:
  1. a cross-origin form POST (text/plain) creating a silence that matches everything;
  2. fetch() with a JSON silence (needs a CORS preflight Vigil never grants);
  3. fetch() PUT /api/v1/rollback-hooks {"enabled": false}.
Prints one JSON line: {"form_status": <status the browser saw or null>,
"fetch_silence": "<error or status>", "fetch_rollback": "<error or status>"}.
"""

import argparse
import http.server
import json
import threading

from playwright.sync_api import sync_playwright

PAGE = """<!doctype html>
<html><body>
<form id="f" method="POST" enctype="text/plain" action="{api}/api/v1/silences">
<input name='{{"matchers":[{{"name":"monitor","value":".*","isRegex":true,"isEqual":true}}],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2036-01-01T00:00:00Z","createdBy":"evil","comment":"x' value='"}}'>
</form>
<script>
async function attempt(method, path, body) {{
  try {{
    const r = await fetch("{api}" + path, {{
      method, headers: {{"Content-Type": "application/json"}}, body: JSON.stringify(body)
    }});
    return "status " + r.status;
  }} catch (e) {{
    return "error " + e.name;
  }}
}}
</script>
</body></html>
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    args = parser.parse_args()
    page_html = PAGE.format(api=args.api).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"

    result = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(origin + "/")
        silence = {
            "matchers": [{"name": "monitor", "value": ".*", "isRegex": True, "isEqual": True}],
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "2036-01-01T00:00:00Z",
            "createdBy": "evil",
            "comment": "everything",
        }
        result["fetch_silence"] = page.evaluate("b => attempt('POST', '/api/v1/silences', b)", silence)
        result["fetch_rollback"] = page.evaluate("b => attempt('PUT', '/api/v1/rollback-hooks', b)", {"enabled": False})
        with page.expect_navigation() as navigation:
            page.evaluate("document.getElementById('f').submit()")
        response = navigation.value
        result["form_status"] = response.status if response else None
        browser.close()
    server.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
