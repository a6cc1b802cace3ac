"""Render load for the benchmarks: CONCURRENCY threads, each on one keep-alive connection, ask for
COUNT renders in total, round-robin over the given objects. Prints renders/s, and how many were
cache hits (X-Render-Cache). Fails on any status other than 200.

    python3 render_client.py BASE_URL BUCKET QUERY CONCURRENCY COUNT NAME [NAME...]
"""

import http.client
import sys
import threading
import time
import urllib.parse


def main(base_url, bucket, query, concurrency, count, *names):
    concurrency, count = int(concurrency), int(count)
    url = urllib.parse.urlsplit(base_url)
    lock = threading.Lock()
    state = {"next": 0, "hits": 0, "bytes": 0, "failures": []}

    def worker():
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        while True:
            with lock:
                index = state["next"]
                if index >= count:
                    return
                state["next"] += 1
            name = names[index % len(names)]
            connection.request("GET", f"{url.path}/render/image/public/{bucket}/{name}?{query}")
            response = connection.getresponse()
            body = response.read()
            with lock:
                if response.status != 200:
                    state["failures"].append(response.status)
                state["hits"] += response.getheader("X-Render-Cache") == "hit"
                state["bytes"] += len(body)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if state["failures"]:
        sys.exit(f"{len(state['failures'])} renders failed: {sorted(set(state['failures']))}")
    print(f"{count / elapsed:.1f} {state['hits']} {state['bytes'] // count}")


if __name__ == "__main__":
    main(*sys.argv[1:])
