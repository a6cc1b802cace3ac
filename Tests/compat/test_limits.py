"""Stalled clients and upload floods (issue 6, operations): a client silent mid-request or idle
is disconnected after REQUEST_READ_TIMEOUT_MS without leaving anything behind, and uploads beyond
MAX_CONCURRENT_UPLOADS get a clear 429 while the others finish."""

import os
import socket
import threading
import time

import httpx
import psycopg
import pytest

from conftest import SERVICE_KEY, Server, scratch_database, service_headers

TIMEOUT_MS = 1000


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    base = tmp_path_factory.mktemp("limits")
    env = {"REQUEST_READ_TIMEOUT_MS": str(TIMEOUT_MS), "MAX_CONCURRENT_UPLOADS": "1"}
    with scratch_database("compat_limits") as database_url:
        instance = Server(os.environ["STORAGE_API_BINARY"], database_url, base / "storage", base / "server.log",
                          extra_env=env)
        instance.start()
        client = instance.client(SERVICE_KEY)
        client.create_bucket("limits")
        yield instance
        instance.stop()


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection (reads EOF or a reset) within `seconds`."""
    sock.settimeout(seconds)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def upload_head(name: str, length: int) -> bytes:
    return (f"POST /storage/v1/object/limits/{name} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {SERVICE_KEY}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def test_slowloris_headers_are_cut_off(strict):
    sock = connect(strict)
    sock.sendall(b"GET /storage/v1/status HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    assert closed_within(sock, 5)
    assert time.monotonic() - started < 4
    assert httpx.get(f"{strict.url}/status").status_code == 200


def test_a_stalled_body_is_cut_off_and_leaves_nothing(strict):
    sock = connect(strict)
    sock.sendall(upload_head("stalled.bin", 100_000) + b"x" * 1000)
    assert closed_within(sock, 5)
    deadline = time.time() + 5
    while time.time() < deadline and strict.temporary_files():
        time.sleep(0.1)
    strict.assert_nothing_left("limits", "stalled.bin")


def test_a_steady_slow_client_and_keep_alive_gaps_are_fine(strict):
    sock = connect(strict)
    data = b"s" * 3000
    sock.sendall(upload_head("slow.bin", len(data)))
    for offset in range(0, len(data), 500):
        sock.sendall(data[offset:offset + 500])
        time.sleep(TIMEOUT_MS / 1000 / 2)
    sock.settimeout(10)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    with httpx.Client(base_url=strict.url) as client:
        for _ in range(3):
            assert client.get("/status").status_code == 200
            time.sleep(TIMEOUT_MS / 1000 / 2)
    assert strict.client(SERVICE_KEY).from_("limits").download("slow.bin") == data


def test_a_body_the_server_is_not_reading_yet_is_not_a_stalled_client(strict):
    """While the server waits on the database it reads nothing, so the client's send blocks: the
    read timeout only counts time the server is asking for bytes. Found by the load test."""
    data = os.urandom(16 * 1024 * 1024)
    locked, release = threading.Event(), threading.Event()

    def hold_buckets_table():
        with psycopg.connect(strict.database_url) as connection:
            connection.execute("lock table storage.buckets in access exclusive mode")
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=hold_buckets_table)
    holder.start()
    locked.wait(10)
    threading.Timer(TIMEOUT_MS / 1000 * 3, release.set).start()
    try:
        response = httpx.post(f"{strict.url}/object/limits/held.bin", content=data, timeout=60,
                              headers=service_headers(**{"Content-Type": "application/octet-stream"}))
    finally:
        release.set()
        holder.join()
    assert response.status_code == 200, response.text
    assert strict.client(SERVICE_KEY).from_("limits").download("held.bin") == data


def test_uploads_over_the_cap_get_429(strict):
    sock = connect(strict)
    total = 4000
    sent = [100]
    sock.sendall(upload_head("first.bin", total) + b"a" * 100)
    stop = threading.Event()

    def trickle():
        # Keeps the first upload alive (under the read timeout) without finishing it.
        while not stop.is_set() and sent[0] < total - 100:
            sock.sendall(b"a" * 100)
            sent[0] += 100
            time.sleep(0.2)

    keeper = threading.Thread(target=trickle)
    keeper.start()
    time.sleep(0.5)
    try:
        second = httpx.post(f"{strict.url}/object/limits/second.bin", content=b"b" * 10,
                            headers=service_headers(**{"Content-Type": "application/octet-stream"}))
        assert second.status_code == 429
        assert second.json() == {"statusCode": "429", "error": "too_many_requests", "code": "TooManyRequests",
                                 "message": "Too many uploads in progress, try again later"}
        # (The first upload's temporary file is legitimately there.)
        assert strict.object_row("limits", "second.bin") is None
        assert strict.version_files("limits", "second.bin") == []
    finally:
        stop.set()
        keeper.join()
    # The first upload finishes normally, and its slot is free again.
    sock.sendall(b"a" * (total - sent[0]))
    sock.settimeout(10)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    third = httpx.post(f"{strict.url}/object/limits/third.bin", content=b"c" * 10,
                       headers=service_headers(**{"Content-Type": "application/octet-stream"}))
    assert third.status_code == 200
    assert strict.client(SERVICE_KEY).from_("limits").download("first.bin") == b"a" * total
    assert strict.temporary_files() == []
