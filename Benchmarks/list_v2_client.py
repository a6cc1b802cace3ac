"""List-v2 page latencies on the seeded bucket (dir-000..099 / sub-00..99 / 100 files each), one
keep-alive client, each page checked for the entries it must hold. Prints JSON: per shape, the
number of pages and p50/p99 in milliseconds.

    list_v2_client.py BASE_URL BUCKET TOKEN PAGES_PER_SHAPE ROWS
"""

import http.client
import json
import random
import sys
import time
import urllib.parse


def main():
    base, bucket, token, pages, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    per_sub, per_dir = rows // 10000, rows // 100
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    rng = random.Random(7)

    def page(body):
        started = time.monotonic()
        connection.request("POST", f"{url.path}/object/list-v2/{bucket}", json.dumps(body), headers)
        response = connection.getresponse()
        data = response.read()
        elapsed = (time.monotonic() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"list-v2 {body} answered {response.status}: {data[:300]!r}")
        return elapsed, json.loads(data)

    def expect(condition, body, result):
        if not condition:
            raise SystemExit(f"unexpected page for {body}: {json.dumps(result)[:300]}")

    shapes = {}

    def measure(name, make_body, check):
        times = []
        for _ in range(pages):
            body = make_body()
            elapsed, result = page(body)
            check(body, result)
            times.append(elapsed)
        times.sort()
        pick = lambda p: times[min(len(times) - 1, int(p / 100 * len(times)))]
        shapes[name] = {"pages": len(times), "p50_ms": round(pick(50), 2), "p99_ms": round(pick(99), 2)}

    measure("root folders (delimiter, limit 100)",
            lambda: {"prefix": "", "limit": 100, "with_delimiter": True},
            lambda b, r: expect(len(r["folders"]) == 100 and not r["objects"], b, r))
    measure("folders of a random dir (delimiter, limit 100)",
            lambda: {"prefix": f"dir-{rng.randrange(100):03d}/", "limit": 100, "with_delimiter": True},
            lambda b, r: expect(len(r["folders"]) == 100, b, r))
    measure("files of a random dir/sub (delimiter, limit 100)",
            lambda: {"prefix": f"dir-{rng.randrange(100):03d}/sub-{rng.randrange(100):02d}/", "limit": 100,
                     "with_delimiter": True},
            lambda b, r: expect(len(r["objects"]) == min(100, per_sub)
                                and all(o["name"].startswith(b["prefix"]) for o in r["objects"]), b, r))
    measure("flat page under a random dir (no delimiter, limit 1000)",
            lambda: {"prefix": f"dir-{rng.randrange(100):03d}/", "limit": 1000},
            lambda b, r: expect(len(r["objects"]) == min(1000, per_dir), b, r))

    # Walking the whole-bucket listing by cursor, from a random page of a random dir onwards.
    cursor = {}

    def next_page():
        if not cursor:
            cursor["value"] = page({"prefix": f"dir-{rng.randrange(100):03d}/", "limit": 1000})[1]["nextCursor"]
        return {"prefix": "", "limit": 1000, "cursor": cursor["value"]}

    def follow(body, result):
        expect(len(result["objects"]) == 1000 or not result["hasNext"], body, result)
        if result["hasNext"]:
            cursor["value"] = result["nextCursor"]
        else:
            cursor.clear()  # the end of the bucket: start again elsewhere

    measure("next page by cursor (no delimiter, limit 1000)", next_page, follow)
    print(json.dumps(shapes))


if __name__ == "__main__":
    main()
