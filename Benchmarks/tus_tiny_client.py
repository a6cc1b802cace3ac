"""N one-byte PATCHes to one resumable upload on one keep-alive connection; prints the mean ms
per PATCH over the first and the last 200, the size of the upload's record (`pieces`, read with
psql from $DATABASE_URL) before the last byte, and whether the object came out whole."""
import base64
import hashlib
import http.client
import os
import subprocess
import sys
import time
import urllib.parse


def main(base_url, key, count):
    count = int(count)
    url = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Bearer {key}", "Tus-Resumable": "1.0.0"}

    def request(method, path, body=None, extra=None):
        connection.request(method, url.path + path, body=body, headers={**headers, **(extra or {})})
        response = connection.getresponse()
        return response, response.read()

    data = os.urandom(count)
    metadata = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                        {"bucketName": "tiny", "objectName": f"tiny-{count}.bin"}.items())
    created, _ = request("POST", "/upload/resumable", extra={"Upload-Length": str(count), "Upload-Metadata": metadata})
    assert created.status == 201, created.status
    path = created.getheader("location").split("/storage/v1", 1)[-1]
    times, record = [], 0
    for offset in range(count):
        if offset == count - 1:
            record = subprocess.run(
                ["psql", os.environ["DATABASE_URL"], "-Atc",
                 "select coalesce(max(length(pieces::text)), 0) from storage_api.resumable_uploads"],
                check=True, capture_output=True, text=True).stdout.strip()
        started = time.perf_counter()
        response, text = request("PATCH", path, body=data[offset:offset + 1], extra={
            "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        times.append(time.perf_counter() - started)
        if response.status != 204:
            sys.exit(f"PATCH {offset}: {response.status} {text!r}")
    _, body = request("GET", f"/object/tiny/tiny-{count}.bin")
    first, last = times[:200], times[-200:]
    whole = hashlib.md5(body).digest() == hashlib.md5(data).digest()
    print(f"{1000 * sum(first) / len(first):.1f} {1000 * sum(last) / len(last):.1f} {record} "
          f"{'whole' if whole else 'CORRUPT'}")


if __name__ == "__main__":
    main(*sys.argv[1:])
