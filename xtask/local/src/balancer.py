"""The local stack's load balancer: for each service deployed blue/green, canary or linear, a
production listener and a test listener on 127.0.0.1, each forwarding every request to one
of the service's task containers, chosen by the traffic weights of the deployment under way
(the model in moto_plugin.py decides them, stage by stage, as ECS moves its target groups).

What it stands in for is an Application Load Balancer with two listeners and two target
groups; what it leaves out is everything an ALB does besides routing by weight (rules,
health checks of its own, TLS, stickiness). A request with no task to go to is answered
503, as an ALB answers for a target group with no healthy target.
"""

import http.client
import http.server
import threading
import urllib.parse

# Headers that describe one connection, not the request: never forwarded (RFC 9110, 7.6.1).
HOP_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
               "transfer-encoding", "upgrade", "host", "content-length"}


class Listener:
    """One listener: a threaded HTTP server whose every request goes where `route()` says
    (a base URL like `http://127.0.0.1:PORT`, or None: no target)."""

    def __init__(self, route, host="127.0.0.1"):
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self):
                listener.forward(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = forward

            def log_message(self, *args):
                pass

        self.route = route
        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def forward(self, request):
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        target = self.route()
        if target is None:
            return answer(request, 503, b"no healthy target: the target group has no running task\n")
        parsed = urllib.parse.urlsplit(target)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        headers["X-Forwarded-For"] = request.client_address[0]
        try:
            upstream = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
            upstream.request(request.command, request.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_HEADERS]
            upstream.close()
        except OSError as err:
            return answer(request, 502, f"the target {target} did not answer: {err}\n".encode())
        answer(request, response.status, payload, kept, head=request.command == "HEAD")


def answer(request, status, payload, headers=(), head=False):
    request.send_response(status)
    for key, value in headers:
        request.send_header(key, value)
    if not any(k.lower() == "content-type" for k, _ in headers):
        request.send_header("Content-Type", "text/plain")
    request.send_header("Content-Length", str(len(payload)))
    request.end_headers()
    if not head:
        request.wfile.write(payload)
