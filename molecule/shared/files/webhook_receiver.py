#!/usr/bin/python3
"""Test-only notification sink: appends every POST body, as one line, to /var/tmp/webhook.log.

Stands in for the webhook, Slack and PagerDuty endpoints of the Molecule scenario, so
notifications never leave the container.
"""
from http.server import BaseHTTPRequestHandler, HTTPServer

LOG = "/var/tmp/webhook.log"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(LOG, "ab") as log:
            log.write(body.replace(b"\n", b" ").strip() + b"\n")
        # Slack's notifier wants a plain "ok"; webhook and PagerDuty accept any 2xx.
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", 5001), Handler).serve_forever()
