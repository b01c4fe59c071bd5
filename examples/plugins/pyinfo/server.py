# A small HTTP API in Python, run by the pyinfo plugin inside the debian image.
import json
import platform
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def send_json(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self.send_json({"ok": True})
        elif self.path == "/info":
            with open("/etc/os-release") as f:
                os_release = dict(l.strip().split("=", 1) for l in f if "=" in l)
            self.send_json({"python": platform.python_version(), "executable": sys.executable,
                            "os": os_release.get("PRETTY_NAME", "").strip('"')})
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", 8080), Handler).serve_forever()
