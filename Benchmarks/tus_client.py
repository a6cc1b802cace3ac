"""A minimal TUS client for the benchmarks: one keep-alive connection, chunks streamed from the
file (http.client sends a file body without loading it), no dependencies beyond Python.

    python3 tus_client.py BASE_URL KEY BUCKET OBJECT FILE CHUNK_BYTES
"""

import base64
import http.client
import os
import sys
import urllib.parse


class Slice:
    """A read-only window of a file, for http.client to stream."""

    def __init__(self, file, length):
        self.file, self.left = file, length

    def read(self, size=-1):
        size = self.left if size < 0 else min(size, self.left)
        data = self.file.read(size)
        self.left -= len(data)
        return data


def main(base_url, key, bucket, name, path, chunk):
    chunk = int(chunk)
    size = os.path.getsize(path)
    url = urllib.parse.urlsplit(base_url)
    # http.client reads a file body 8 KiB at a time by default: a send per 8 KiB made the client,
    # not the server, the slow side of an 8 MiB PATCH.
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=600, blocksize=1 << 20)
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                    [("bucketName", bucket), ("objectName", name), ("contentType", "application/octet-stream")])
    headers = {"Authorization": f"Bearer {key}", "Tus-Resumable": "1.0.0"}
    connection.request("POST", f"{url.path}/upload/resumable", headers={**headers, "Upload-Length": str(size),
                                                                        "Upload-Metadata": meta})
    response = connection.getresponse()
    response.read()
    if response.status != 201:
        sys.exit(f"create: {response.status}")
    location = urllib.parse.urlsplit(response.headers["Location"]).path
    offset = 0
    with open(path, "rb") as file:
        while offset < size:
            length = min(chunk, size - offset)
            connection.request("PATCH", location, body=Slice(file, length), headers={
                **headers, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(length)})
            response = connection.getresponse()
            body = response.read()
            if response.status != 204:
                sys.exit(f"patch at {offset}: {response.status} {body!r}")
            offset = int(response.headers["Upload-Offset"])
    if size == 0 or response.headers.get("Tus-Complete") != "1":
        sys.exit("the upload did not complete")


if __name__ == "__main__":
    main(*sys.argv[1:])
