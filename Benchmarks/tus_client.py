"""A minimal TUS client for the benchmarks: one keep-alive connection, chunks streamed from the
file (http.client sends a file body without loading it), no dependencies beyond Python.

    python3 tus_client.py BASE_URL KEY BUCKET OBJECT FILE CHUNK_BYTES
    python3 tus_client.py --plain CREATION_URL FILE CHUNK_BYTES   (any TUS server, e.g. SeaweedFS's filer)
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


def create(connection, path, headers):
    connection.request("POST", path, headers=headers)
    response = connection.getresponse()
    response.read()
    if response.status != 201:
        sys.exit(f"create: {response.status}")
    return urllib.parse.urlsplit(response.headers["Location"]).path


def send(connection, location, path, size, chunk, headers):
    """PATCHes the file in chunks of `chunk` bytes, each after the previous one's answer."""
    offset = 0
    response = None
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
    return response


def connect(url):
    # http.client reads a file body 8 KiB at a time by default: a send per 8 KiB made the client,
    # not the server, the slow side of an 8 MiB PATCH.
    return http.client.HTTPConnection(url.hostname, url.port, timeout=600, blocksize=1 << 20)


def main(base_url, key, bucket, name, path, chunk):
    chunk = int(chunk)
    size = os.path.getsize(path)
    url = urllib.parse.urlsplit(base_url)
    connection = connect(url)
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                    [("bucketName", bucket), ("objectName", name), ("contentType", "application/octet-stream")])
    headers = {"Authorization": f"Bearer {key}", "Tus-Resumable": "1.0.0"}
    location = create(connection, f"{url.path}/upload/resumable",
                      {**headers, "Upload-Length": str(size), "Upload-Metadata": meta})
    response = send(connection, location, path, size, chunk, headers)
    if size == 0 or response.headers.get("Tus-Complete") != "1":
        sys.exit("the upload did not complete")


def plain(creation_url, path, chunk):
    """The same upload to a TUS server of no particular kind (the baseline)."""
    size = os.path.getsize(path)
    url = urllib.parse.urlsplit(creation_url)
    connection = connect(url)
    headers = {"Tus-Resumable": "1.0.0"}
    location = create(connection, url.path, {**headers, "Upload-Length": str(size)})
    send(connection, location, path, size, int(chunk), headers)


if __name__ == "__main__":
    if sys.argv[1] == "--plain":
        plain(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
