"""Closed-loop load of small uploads: N clients, each on its own keep-alive connection, POST
SIZE-byte bodies to fresh keys for SECONDS; prints uploads/s and latency percentiles as JSON.

    small_uploads_client.py BASE_URL BUCKET TOKEN CLIENTS SECONDS SIZE
"""

import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def main():
    base, bucket, token, clients, seconds, size = sys.argv[1:7]
    clients, seconds, size = int(clients), float(seconds), int(size)
    url = urllib.parse.urlsplit(base)
    body = os.urandom(size)
    run = os.urandom(4).hex()  # fresh keys on every run
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    latencies, failures = [], []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(number):
        connection = http.client.HTTPConnection(url.hostname, url.port)
        mine, count = [], 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            connection.request("POST", f"{url.path}/object/{bucket}/{run}/c{number}/{count}.bin", body, headers)
            response = connection.getresponse()
            answer = response.read()
            mine.append(time.monotonic() - started)
            if response.status != 200:
                with lock:
                    failures.append((response.status, answer[:200].decode(errors="replace")))
            count += 1
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def percentile(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    print(json.dumps({
        "uploads": len(latencies), "failures": len(failures), "first_failures": failures[:3],
        "per_second": len(latencies) / elapsed, "p50_ms": percentile(50), "p99_ms": percentile(99)}))


if __name__ == "__main__":
    main()
