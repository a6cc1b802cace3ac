"""Concurrency, graceful shutdown and several server processes (contract §6.6, §7.2).

- Racing non-upsert uploads of one new key: exactly one wins, the other gets Duplicate, and only
  the winner's bytes remain (contract §6.6 settles upstream's race, PR #1392).
- Racing upserts of one key: all succeed, one version survives, row and file agree.
- SIGTERM during an upload: the upload completes, new connections are refused, exit code 0.
- Two processes on one database and one storage directory serve each other's objects.
"""

import os
import signal
import socket
import threading
import time
import uuid

import httpx
import psycopg
import pytest

from conftest import Server, service_headers
from helpers_rls import envelope

MIB = 1024 * 1024


def payload(seed: int, size: int) -> bytes:
    """Distinct, incompressible content per seed."""
    block = os.urandom(64 * 1024)
    return (seed.to_bytes(4, "big") + block) * (size // (len(block) + 4)) + os.urandom(size % (len(block) + 4))


def race(base_url, requests):
    """Runs `(method, path, body, headers)` requests at the same moment, one thread and one client
    each; returns the responses in request order."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def run(index, method, path, body, headers):
        with httpx.Client(base_url=base_url, timeout=120) as client:
            barrier.wait()
            try:
                results[index] = client.request(method, path, content=body, headers=headers)
            except Exception as error:  # reported by the assertion below
                results[index] = error

    threads = [threading.Thread(target=run, args=(i, *request)) for i, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    for result in results:
        assert isinstance(result, httpx.Response), result
    return results


def raw_headers(**extra):
    return service_headers(**{"content-type": "application/octet-stream", **extra})


def download(client, bucket, key):
    response = client.get(f"/object/{bucket}/{key}", headers=service_headers())
    assert response.status_code == 200, response.text
    return response.content


# One process, many requests


@pytest.mark.parametrize("attempt", range(5))
def test_racing_creates_of_one_key_have_one_winner(server, http, bucket, attempt):
    key = f"race-{attempt}-{uuid.uuid4().hex[:8]}.bin"
    bodies = [payload(1, 2 * MIB), payload(2, 2 * MIB + 17)]
    responses = race(server.url, [("POST", f"/object/{bucket}/{key}", body, raw_headers()) for body in bodies])

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 400], [r.text for r in responses]
    winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
    loser = responses[1 - winner]
    body = envelope(loser)
    assert (body["statusCode"], body["error"], body["code"]) == ("409", "Duplicate", "KeyAlreadyExists")

    assert download(http, bucket, key) == bodies[winner]
    row = server.object_row(bucket, key)
    assert row[2]["size"] == len(bodies[winner])
    assert [p.name for p in server.version_files(bucket, key)] == [row[1]]
    server.assert_consistent(bucket)


def test_racing_upserts_leave_one_consistent_version(server, http, bucket):
    key = "upserted.bin"
    bodies = [payload(seed, 512 * 1024 + seed) for seed in range(10)]
    requests = []
    for seed, body in enumerate(bodies):
        if seed % 2:
            requests.append(("PUT", f"/object/{bucket}/{key}", body, raw_headers()))
        else:
            requests.append(("POST", f"/object/{bucket}/{key}", body, raw_headers(**{"x-upsert": "true"})))
    responses = race(server.url, requests)
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert len({r.json()["Id"] for r in responses}) == 1, "an upsert must update the one row, not replace it"

    stored = download(http, bucket, key)
    assert stored in bodies
    row = server.object_row(bucket, key)
    assert row[2]["size"] == len(stored)
    assert [p.name for p in server.version_files(bucket, key)] == [row[1]]
    assert server.version_files(bucket, key)[0].read_bytes() == stored
    server.assert_consistent(bucket)


def test_concurrent_uploads_of_different_keys(server, http, bucket):
    bodies = {f"many/{i:02d}.bin": payload(i, 100 * 1024 + i) for i in range(20)}
    responses = race(server.url, [("POST", f"/object/{bucket}/{key}", body, raw_headers())
                                  for key, body in bodies.items()])
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    assert [r.json()["Key"] for r in responses] == [f"{bucket}/{key}" for key in bodies]
    for key, body in bodies.items():
        assert download(http, bucket, key) == body
    assert server.sql("select count(*) from storage.objects where bucket_id = %s", bucket) == [(20,)]
    server.assert_consistent(bucket)


def test_concurrent_deletes_and_reads_of_one_key(server, http, bucket):
    """Only one delete can succeed; the others see NoSuchKey; nothing half-deleted remains."""
    http.post(f"/object/{bucket}/gone.bin", content=payload(3, MIB), headers=raw_headers())
    responses = race(server.url, [("DELETE", f"/object/{bucket}/gone.bin", None, service_headers())] * 6)
    assert sorted(r.status_code for r in responses) == [200] + [400] * 5
    for response in responses:
        if response.status_code == 400:
            assert envelope(response)["code"] == "NoSuchKey"
    server.assert_nothing_left(bucket, "gone.bin")


# Processes of our own


@pytest.fixture
def own_database(tmp_path):
    """A database and storage directory shared by the servers a test starts itself."""
    binary = os.environ["STORAGE_API_BINARY"]
    admin_url = os.environ["TEST_DATABASE_URL"]
    name = f"compat_own_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    database_url = admin_url.rsplit("/", 1)[0] + "/" + name
    storage = tmp_path / "storage"
    started: list[Server] = []

    def start(label: str) -> Server:
        instance = Server(binary, database_url, storage, tmp_path / f"{label}.log")
        instance.start()
        started.append(instance)
        return instance

    try:
        yield start
    finally:
        for instance in started:
            instance.stop()
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'drop database if exists "{name}" with (force)')


def refuses_connections(port) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_sigterm_lets_a_running_upload_finish(own_database):
    server = own_database("first")
    client = server.client()
    client.create_bucket("drain")
    data = payload(7, 8 * MIB)
    chunk = 128 * 1024
    progress = threading.Event()
    outcome = {}

    def slow_body():
        for offset in range(0, len(data), chunk):
            if offset >= len(data) // 3:
                progress.set()
            yield data[offset:offset + chunk]
            time.sleep(0.04)

    def upload():
        try:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                outcome["response"] = http.post("/object/drain/slow.bin", content=slow_body(), headers=raw_headers())
        except Exception as error:
            outcome["error"] = error

    thread = threading.Thread(target=upload)
    thread.start()
    assert progress.wait(30), "the upload never got going"
    server.process.send_signal(signal.SIGTERM)

    deadline = time.time() + 5
    while not refuses_connections(server.port) and time.time() < deadline:
        time.sleep(0.05)
    refused_while_uploading = refuses_connections(server.port) and thread.is_alive()
    thread.join(60)
    assert refused_while_uploading, "new connections were still accepted while the upload drained"
    assert "error" not in outcome, outcome.get("error")
    response = outcome["response"]
    assert response.status_code == 200, response.text
    assert response.json()["Key"] == "drain/slow.bin"
    assert server.process.wait(30) == 0, server.log_tail()

    again = own_database("second")
    with again.http() as http:
        assert download(http, "drain", "slow.bin") == data
    again.assert_consistent("drain")


def test_sigterm_when_idle_exits_cleanly(own_database):
    server = own_database("idle")
    with server.http() as http:  # a kept-alive idle connection must not hold the process up
        assert http.get("/status").status_code == 200
        started = time.time()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(15) == 0, server.log_tail()
    assert time.time() - started < 15
    assert refuses_connections(server.port)


def test_two_processes_share_one_database_and_directory(own_database):
    first, second = own_database("first"), own_database("second")
    first.client().create_bucket("shared")
    assert {b.id for b in second.client().list_buckets()} >= {"shared"}

    one, two = first.client().from_("shared"), second.client().from_("shared")
    one.upload("dir/from-first.txt", b"written by the first process")
    assert two.download("dir/from-first.txt") == b"written by the first process"
    assert two.info("dir/from-first.txt")["size"] == len(b"written by the first process")
    assert [item["name"] for item in two.list("dir")] == ["from-first.txt"]

    two.update("dir/from-first.txt", b"replaced by the second")
    assert one.download("dir/from-first.txt") == b"replaced by the second"
    first.assert_consistent("shared")

    assert [item["name"] for item in two.remove(["dir/from-first.txt"])] == ["dir/from-first.txt"]
    assert one.exists("dir/from-first.txt") is False
    first.assert_nothing_left("shared", "dir/from-first.txt")


def test_two_processes_race_for_one_key(own_database):
    """The one-winner rule holds across processes (it is decided in Postgres, not in memory)."""
    first, second = own_database("first"), own_database("second")
    first.client().create_bucket("contest")
    for attempt in range(3):
        key = f"k{attempt}.bin"
        bodies = [payload(10 + attempt, MIB), payload(20 + attempt, MIB + 1)]
        barrier = threading.Barrier(2)
        results = [None, None]

        def run(index, target):
            with httpx.Client(base_url=target.url, timeout=60) as http:
                barrier.wait()
                results[index] = http.post(f"/object/contest/{key}", content=bodies[index], headers=raw_headers())

        threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate((first, second))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(r.status_code for r in results) == [200, 400], [r.text for r in results]
        winner = next(i for i, r in enumerate(results) if r.status_code == 200)
        assert envelope(results[1 - winner])["code"] == "KeyAlreadyExists"
        with second.http() as http:
            assert download(http, "contest", key) == bodies[winner]
    first.assert_consistent("contest")
