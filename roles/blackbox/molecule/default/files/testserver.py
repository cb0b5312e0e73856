"""Probe targets for the blackbox suite: HTTP on 127.0.0.1:8080, HTTPS on 127.0.0.1:8443.

GET/HEAD/POST answer 200, except /post-only, which answers 405 to anything but POST (so the
http_post_2xx module can be told apart from http_2xx).
"""
import http.server
import ssl
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def _reply(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status = 405 if self.path == "/post-only" and self.command != "POST" else 200
        body = f"{self.command} {status}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = _reply


def main(directory: str) -> None:
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 8080), Handler)
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 8443), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"{directory}/cert.pem", f"{directory}/key.pem")
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    threading.Thread(target=tls.serve_forever, daemon=True).start()
    plain.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
