"""The S3 backend going away mid-traffic and coming back (issue: STORAGE_MODE self-hosted).

While SeaweedFS is down: requests that need it fail with a clean 5xx envelope, /health says 503
and names the backend. Nothing is left half-written: no row without bytes, no bytes without a
row, no multipart upload in progress. When it is back the server recovers by itself.
"""

import os
import pathlib
import signal
import subprocess
import threading
import time
import uuid

import httpx
import psycopg
import pytest

from conftest import MODE, SERVICE_KEY, Server, service_headers
from helpers_objects import is_envelope

pytestmark = pytest.mark.skipif(MODE == "file", reason="the file backend has no service to lose")

REPO = pathlib.Path(__file__).resolve().parents[2]


def seaweedfs(command: str, data: pathlib.Path) -> str:
    """Runs a scripts/lib.sh SeaweedFS helper; returns what it prints."""
    script = (f'source "{REPO}/scripts/lib.sh"; {command} "{os.environ["TEST_WEED_BINARY"]}" "{data}" '
              f'"{os.environ["TEST_S3_ACCESS_KEY"]}" "{os.environ["TEST_S3_SECRET_KEY"]}"')
    if command == "stop_seaweedfs":
        script = f'source "{REPO}/scripts/lib.sh"; stop_seaweedfs "{data}"'
    return subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True, timeout=180).stdout.strip()


def kill_seaweedfs(data: pathlib.Path):
    pid = int((data / "weed.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


@pytest.fixture
def isolated(tmp_path):
    """A SeaweedFS, a database and a server of this test's own."""
    data = tmp_path / "seaweedfs"
    endpoint = seaweedfs("start_seaweedfs", data)
    admin_url = os.environ["TEST_DATABASE_URL"]
    name = f"compat_outage_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    server = Server(os.environ["STORAGE_API_BINARY"], admin_url.rsplit("/", 1)[0] + "/" + name,
                    tmp_path / "storage", tmp_path / "server.log", extra_env={"S3_ENDPOINT": endpoint})
    server.start()
    try:
        yield server, data
    finally:
        server.stop()
        kill_seaweedfs(data)
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'drop database if exists "{name}" with (force)')


def test_seaweedfs_stopped_mid_traffic(isolated):
    server, data = isolated
    http = httpx.Client(base_url=server.url, timeout=60)
    bucket = "outage"
    assert http.post("/bucket", json={"name": bucket}, headers=service_headers()).status_code == 200
    big = os.urandom(7 * 1024 * 1024)  # two parts at the suite's 5 MiB part size
    assert http.post(f"/object/{bucket}/before.bin", content=big, headers=service_headers()).status_code == 200

    outcomes, stop = [], threading.Event()

    def traffic(worker: int):
        with httpx.Client(base_url=server.url, timeout=60) as client:
            count = 0
            while not stop.is_set():
                key = f"w{worker}/{count}.bin"
                body = big if count % 2 else os.urandom(100_000)
                try:
                    response = client.post(f"/object/{bucket}/{key}", content=body, headers=service_headers())
                except httpx.TransportError as error:
                    outcomes.append((key, body, None, repr(error)))
                else:
                    outcomes.append((key, body, response.status_code, response.text))
                count += 1

    workers = [threading.Thread(target=traffic, args=(n,)) for n in range(3)]
    for worker in workers:
        worker.start()
    time.sleep(1.5)
    kill_seaweedfs(data)
    time.sleep(2)

    # Down: uploads, downloads and health fail cleanly.
    failed_upload = http.post(f"/object/{bucket}/during.bin", content=b"x" * 1000, headers=service_headers())
    assert is_envelope(failed_upload, "500"), failed_upload.text
    failed_download = http.get(f"/object/{bucket}/before.bin", headers=service_headers())
    assert is_envelope(failed_download, "500"), failed_download.text
    health = http.get("/health")
    assert health.status_code == 503
    assert health.json()["healthy"] is False and health.json()["database"] == "ok"
    assert health.json()["storage"].startswith("error: s3")
    stop.set()
    for worker in workers:
        worker.join(120)

    # Back: health recovers by itself; every acknowledged upload is intact.
    seaweedfs("start_seaweedfs", data)
    deadline = time.time() + 60
    while http.get("/health").status_code != 200 and time.time() < deadline:
        time.sleep(0.5)
    assert http.get("/health").status_code == 200
    assert http.get(f"/object/{bucket}/before.bin", headers=service_headers()).content == big

    succeeded = [(key, body) for key, body, status, _ in outcomes if status == 200]
    failed = [(key, status, text) for key, _, status, text in outcomes if status != 200]
    assert succeeded and failed, (len(succeeded), len(failed))
    for key, status, text in failed:
        # Every failure that got an answer got an envelope, never an empty 500.
        if status is not None:
            assert status >= 500 and '"statusCode"' in text, (key, status, text)
        assert server.object_row(bucket, key) is None, f"row without acknowledged bytes: {key}"
    for key, body in succeeded:
        assert http.get(f"/object/{bucket}/{key}", headers=service_headers()).content == body, key

    # Clean-ups that failed while it was down run once it is back (the server retries them).
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            server.assert_consistent(bucket)
            break
        except AssertionError:
            time.sleep(1)
    server.assert_consistent(bucket)

    after = http.post(f"/object/{bucket}/after.bin", content=big, headers=service_headers())
    assert after.status_code == 200
    assert http.get(f"/object/{bucket}/after.bin", headers=service_headers()).content == big
