"""Network faults between client and server (issue 11, item 12), through `faultproxy.FaultProxy`:
a connection reset mid-upload, a client sending at a few KB/s, and a client that stops reading a
download. Each leaves nothing half-written and costs the server no memory it does not bound.
"""

import base64
import os
import socket
import threading
import time

import httpx
import pytest

from conftest import rss_kib, service_headers
from faultproxy import FaultProxy

TUS = {"Tus-Resumable": "1.0.0"}


def tus_create(http, bucket: str, name: str, length: int) -> str:
    metadata = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}"
                        for key, value in {"bucketName": bucket, "objectName": name}.items())
    response = http.post("/upload/resumable", headers={
        **TUS, **service_headers(), "Upload-Length": str(length), "Upload-Metadata": metadata})
    assert response.status_code == 201, response.text
    return response.headers["location"].split("/storage/v1", 1)[-1]


def head_offset(http, path: str) -> int:
    response = http.head(path, headers={**TUS, **service_headers()})
    assert response.status_code == 200, response.status_code
    return int(response.headers["upload-offset"])


def patch(http, path: str, offset: int, body: bytes, timeout=60):
    return http.patch(path, content=body, timeout=timeout, headers={
        **TUS, **service_headers(), "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream"})


def test_a_reset_mid_patch_leaves_the_upload_resumable(server, service, http, bucket):
    data = os.urandom(4 * 1024 * 1024)
    path = tus_create(http, bucket, "reset.bin", len(data))
    with FaultProxy(server.port, reset_after=1536 * 1024) as proxy, \
            httpx.Client(base_url=proxy.url, timeout=60) as broken:
        with pytest.raises(httpx.TransportError):
            patch(broken, path, 0, data)
    # What the server kept is a prefix of what was sent; the rest resumes from there.
    deadline = time.time() + 10
    while True:
        response = http.head(path, headers={**TUS, **service_headers()})
        if response.status_code == 200 or time.time() > deadline:
            break
        time.sleep(0.2)  # the interrupted PATCH may still hold the lease for a moment
    offset = int(response.headers["upload-offset"])
    assert 0 <= offset <= 1536 * 1024
    done = patch(http, path, offset, data[offset:])
    assert done.status_code == 204, done.text
    assert service.from_(bucket).download("reset.bin") == data
    server.assert_consistent(bucket)


def test_a_reset_mid_upload_leaves_nothing(server, http, bucket):
    data = os.urandom(4 * 1024 * 1024)
    with FaultProxy(server.port, reset_after=1024 * 1024) as proxy, \
            httpx.Client(base_url=proxy.url, timeout=60) as broken:
        with pytest.raises(httpx.TransportError):
            broken.post(f"/object/{bucket}/reset.bin", content=data,
                        headers=service_headers(**{"content-type": "application/octet-stream"}))
        with pytest.raises(httpx.TransportError):
            broken.post(f"/object/{bucket}/form.bin", headers=service_headers(),
                        files={"file": ("form.bin", data, "application/octet-stream")})
    deadline = time.time() + 10
    while server.temporary_files() and time.time() < deadline:
        time.sleep(0.1)
    for name in ("reset.bin", "form.bin"):
        server.assert_nothing_left(bucket, name)


def test_a_throttled_patch_is_preempted_within_the_lock_wait(server, service, http, bucket):
    """A PATCH trickling at 8 KB/s holds the upload; a HEAD and then a second PATCH from
    elsewhere each get their answer within the lock wait (5 s), not after the slow one ends."""
    data = os.urandom(512 * 1024)
    path = tus_create(http, bucket, "slow.bin", len(data))
    outcome = {}
    with FaultProxy(server.port, throttle=8 * 1024) as proxy, \
            httpx.Client(base_url=proxy.url, timeout=120) as slow:
        def trickle():
            try:
                outcome["slow"] = patch(slow, path, 0, data, timeout=120).status_code
            except httpx.TransportError as error:
                outcome["slow"] = repr(error)
        thread = threading.Thread(target=trickle)
        thread.start()
        time.sleep(2)  # some 16 KB are in
        started = time.monotonic()
        offset = head_offset(http, path)
        head_seconds = time.monotonic() - started
        started = time.monotonic()
        response = patch(http, path, offset, data[offset:])
        patch_seconds = time.monotonic() - started
        thread.join(150)
    assert response.status_code == 204, response.text
    assert head_seconds < 7 and patch_seconds < 12, (head_seconds, patch_seconds)
    assert service.from_(bucket).download("slow.bin") == data
    assert outcome.get("slow") != 204, outcome  # the slow writer was stopped, not completed
    server.assert_consistent(bucket)


def test_a_download_client_that_stops_reading_costs_no_memory(server, http, bucket):
    size = 16 * 1024 * 1024
    response = http.post(f"/object/{bucket}/big.bin", content=os.urandom(size), headers=service_headers())
    assert response.status_code == 200, response.text
    idle = rss_kib(server.process.pid)
    request = (f"GET /storage/v1/object/{bucket}/big.bin HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: {service_headers()['Authorization']}\r\n\r\n").encode()
    stalled = []
    for _ in range(6):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(request)
        stalled.append(sock)
    time.sleep(3)  # the server writes what the sockets take, then must wait
    grown = (rss_kib(server.process.pid) - idle) // 1024
    for sock in stalled:
        sock.close()
    # Six whole copies would be 96 MiB; backpressure keeps each to a few socket buffers.
    assert grown < 32, f"RSS grew by {grown} MiB with {len(stalled)} stalled downloads"
    assert http.get("/health").status_code == 200
