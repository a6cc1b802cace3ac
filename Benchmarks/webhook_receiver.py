"""A webhook receiver for the events benchmark: answers 204 to every POST and records, per event,
the time from `event.applyTime` (set in the change's transaction) to its arrival. `GET /stats`
answers {"count", "p50_ms", "p99_ms", "duplicates"} and `POST /reset` starts over.

    webhook_receiver.py PORT
"""

import http.server
import json
import sys
import threading
import time

lock = threading.Lock()
latencies, seen, duplicates = [], set(), [0]


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path == "/reset":
            with lock:
                latencies.clear()
                seen.clear()
                duplicates[0] = 0
            return self.answer(204)
        arrived = time.time() * 1000
        event = json.loads(body)["event"]
        with lock:
            event_id = self.headers["webhook-id"]
            if event_id in seen:
                duplicates[0] += 1
            seen.add(event_id)
            latencies.append(arrived - event["applyTime"])
        self.answer(204)

    def do_GET(self):
        with lock:
            stats = {"count": len(latencies), "p50_ms": percentile(latencies, 0.5),
                     "p99_ms": percentile(latencies, 0.99), "duplicates": duplicates[0]}
        self.answer(200, json.dumps(stats).encode())


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
