"""A webhook receiver for the events benchmark, light enough not to take the server's CPU: asyncio,
keep-alive, answers 204 to every POST and records, per event, the time from `event.applyTime`
(set in the change's transaction) to its arrival. `GET /stats` answers {"count", "p50_ms",
"p99_ms", "duplicates", "exports", "export_bytes"}; `POST /reset` starts over. It is also the
tracing benchmark's OTLP/HTTP endpoint: `POST /v1/traces` is counted (exports and bytes), not decoded.

    webhook_receiver.py PORT
"""

import asyncio
import json
import re
import sys
import time

APPLY_TIME = re.compile(rb'"applyTime":\s*(\d+)')
latencies, seen, duplicates, exports = [], set(), [0], [0, 0]


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else None


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            arrived = time.time() * 1000
            lines = head.split(b"\r\n")
            method, path = lines[0].split(b" ")[:2]
            headers = dict(line.split(b": ", 1) for line in lines[1:] if b": " in line)
            headers = {k.lower(): v for k, v in headers.items()}
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
            if method == b"GET":
                stats = json.dumps({"count": len(latencies), "p50_ms": percentile(latencies, 0.5),
                                    "p99_ms": percentile(latencies, 0.99), "duplicates": duplicates[0],
                                    "exports": exports[0], "export_bytes": exports[1]}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(stats), stats))
            else:
                if path == b"/reset":
                    latencies.clear()
                    seen.clear()
                    duplicates[0] = 0
                    exports[0] = exports[1] = 0
                elif path == b"/v1/traces":
                    exports[0] += 1
                    exports[1] += len(body)
                else:
                    event_id = headers.get(b"webhook-id")
                    if event_id in seen:
                        duplicates[0] += 1
                    seen.add(event_id)
                    match = APPLY_TIME.search(body)
                    latencies.append(arrived - int(match.group(1)))
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()


asyncio.run(main())
