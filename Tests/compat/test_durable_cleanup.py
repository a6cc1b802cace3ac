"""Bytes are removed only after the row change that frees them has committed, through a durable
queue in Postgres (issue 11, item 4), and `storage-api reconcile` finds what is out of step.

- A COMMIT that fails keeps both the row and its bytes (before: the bytes were already gone).
- A process killed after COMMIT but before removing the bytes leaves a queued clean-up that the
  next process drains (before: an in-memory queue, lost with the process).
- `reconcile` lists (and removes) planted stray bytes and reports rows whose bytes are missing.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import time
import uuid

import psycopg
import pytest

from conftest import BACKEND_BUCKET, MODE, TENANT, Server, service_headers

REPO = pathlib.Path(__file__).resolve().parents[2]


def queued(server, key_part: str = "") -> list:
    return server.sql("select kind, key, attempts from storage_api.backend_cleanups where key like %s",
                      f"%{key_part}%")


def wait_until(condition, timeout=30.0, message="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


# A failed COMMIT keeps the row and the bytes


@pytest.fixture
def failing_commit(server, bucket):
    """Makes every COMMIT that deleted a row of `bucket` fail (a deferred constraint trigger)."""
    function = f"fail_{uuid.uuid4().hex[:8]}"
    server.sql(f"""
        create function public.{function}() returns trigger language plpgsql as $$
        begin
          if old.bucket_id = '{bucket}' then raise exception 'commit refused by the test'; end if;
          return old;
        end $$""")
    server.sql(f"""
        create constraint trigger {function} after delete on storage.objects
        deferrable initially deferred for each row execute function public.{function}()""")
    try:
        yield
    finally:
        server.sql(f"drop trigger if exists {function} on storage.objects")
        server.sql(f"drop function if exists public.{function}()")


@pytest.mark.parametrize("route", ["delete_one", "delete_many", "empty"])
def test_a_failed_commit_keeps_row_and_bytes(server, service, http, bucket, failing_commit, route):
    service.from_(bucket).upload("kept.txt", b"kept bytes")
    if route == "delete_one":
        response = http.delete(f"/object/{bucket}/kept.txt", headers=service_headers())
    elif route == "delete_many":
        response = http.request("DELETE", f"/object/{bucket}", json={"prefixes": ["kept.txt"]},
                                headers=service_headers())
    else:
        response = http.post(f"/bucket/{bucket}/empty", headers=service_headers())
    assert response.status_code >= 400, response.text
    assert server.object_row(bucket, "kept.txt") is not None
    assert len(server.version_files(bucket, "kept.txt")) == 1
    assert service.from_(bucket).download("kept.txt") == b"kept bytes"
    assert "commit refused" not in response.text  # the database's words stay in the log
    assert queued(server, f"/{bucket}/") == []


# A crash between COMMIT and the removal of the bytes


@pytest.fixture
def own_server(tmp_path):
    """A database and a server of this test's own, with a short clean-up grace."""
    admin_url = os.environ["TEST_DATABASE_URL"]
    name = f"compat_cleanup_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    started = []

    def start(extra_env=None):
        server = Server(os.environ["STORAGE_API_BINARY"], admin_url.rsplit("/", 1)[0] + "/" + name,
                        tmp_path / "storage", tmp_path / f"server-{len(started)}.log",
                        extra_env={"BACKEND_CLEANUP_GRACE_MS": "300", "BACKEND_CLEANUP_INTERVAL_MS": "200",
                                   **(extra_env or {})})
        server.start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop(signal.SIGKILL)
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'drop database if exists "{name}" with (force)')


def kill9(server):
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)


@pytest.mark.skipif(MODE != "file", reason="file mode: the bytes are made undeletable by a folder in their place")
def test_bytes_freed_before_a_crash_are_removed_after_restart_file(own_server):
    server = own_server()
    http = server.http()
    assert http.post("/bucket", json={"name": "crash"}, headers=service_headers()).status_code == 200
    for name in ("one.txt", "two.txt"):
        assert http.post(f"/object/crash/{name}", content=b"freed", headers=service_headers()).status_code == 200
    # One version file becomes a non-empty folder: the request's own removal fails.
    [stored] = server.version_files("crash", "one.txt")
    stored.unlink()
    stored.mkdir()
    (stored / "blocker").write_bytes(b"x")
    response = http.request("DELETE", "/object/crash", json={"prefixes": ["one.txt", "two.txt"]},
                            headers=service_headers())
    assert response.status_code == 200 and len(response.json()) == 2, response.text
    assert server.object_row("crash", "one.txt") is None and server.object_row("crash", "two.txt") is None
    assert server.version_files("crash", "two.txt") == [] and queued(server, "/crash/two.txt/") == []
    # Recorded durably (a drainer may already have tried again, and failed as well).
    assert [kind for kind, _, _ in queued(server, "/crash/one.txt/")] == ["object"]
    kill9(server)

    shutil.rmtree(stored)
    stored.write_bytes(b"freed")
    server = own_server()
    wait_until(lambda: queued(server, "/crash/") == [], timeout=90, message="the queued clean-up to drain")
    assert not stored.exists()
    server.assert_consistent("crash")


@pytest.mark.skipif(MODE == "file", reason="S3 modes: the backend is stopped under the request")
def test_bytes_freed_before_a_crash_are_removed_after_restart_s3(own_server, tmp_path):
    from test_backend_outage import kill_seaweedfs, seaweedfs

    data = tmp_path / "seaweedfs"
    endpoint = seaweedfs("start_seaweedfs", data)
    try:
        server = own_server({"S3_ENDPOINT": endpoint})
        http = server.http()
        assert http.post("/bucket", json={"name": "crash"}, headers=service_headers()).status_code == 200
        assert http.post("/object/crash/one.txt", content=b"freed", headers=service_headers()).status_code == 200
        [stored] = server.version_files("crash", "one.txt")
        kill_seaweedfs(data)
        response = http.delete("/object/crash/one.txt", headers=service_headers())
        assert response.status_code == 200, response.text
        assert server.object_row("crash", "one.txt") is None
        assert [kind for kind, _, _ in queued(server, "/crash/one.txt/")] == ["object"]
        kill9(server)

        endpoint = seaweedfs("start_seaweedfs", data)
        server = own_server({"S3_ENDPOINT": endpoint})
        assert stored.exists()  # the bytes survived both processes
        # A drainer that died holding its claim delays the clean-up by the claim's 30 s at most.
        wait_until(lambda: queued(server, "/crash/") == [], timeout=90, message="the queued clean-up to drain")
        assert not stored.exists()
        server.assert_consistent("crash")
    finally:
        kill_seaweedfs(data)


# storage-api reconcile


def reconcile(server, *arguments) -> tuple[list, dict]:
    completed = subprocess.run([server.binary, "reconcile", *arguments], env=server.env,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    assert "summary" in lines[-1], completed.stdout
    return lines[:-1], lines[-1]["summary"]


def plant(server, key: str, age_seconds: int = 0):
    """Writes bytes at a backend key without any row."""
    if MODE == "file":
        path = server.storage_dir / BACKEND_BUCKET / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stray")
        if age_seconds:
            then = time.time() - age_seconds
            os.utime(path, (then, then))
        return lambda: path.exists()
    server.s3.put_object(Bucket=server.backend_bucket, Key=key, Body=b"stray")

    def exists():
        listed = server.s3.list_objects_v2(Bucket=server.backend_bucket, Prefix=key).get("Contents", [])
        return any(entry["Key"] == key for entry in listed)
    return exists


def test_reconcile_finds_strays_and_missing_bytes(server, service, bucket):
    service.from_(bucket).upload("kept.png", b"\x89PNG kept")
    service.from_(bucket).upload("lost.txt", b"lost")
    [lost] = server.version_files(bucket, "lost.txt")
    if MODE == "file":
        lost.unlink()
    else:
        server.s3.delete_object(Bucket=server.backend_bucket, Key=lost.key)
    version = uuid.uuid4().hex
    old = 7200 if MODE == "file" else 0
    strays = {
        f"{TENANT}/{bucket}/gone.txt/{version}": plant(server, f"{TENANT}/{bucket}/gone.txt/{version}", old),
        f"__render/{TENANT}/{bucket}/gone.png/{version}/w100": plant(
            server, f"__render/{TENANT}/{bucket}/gone.png/{version}/w100", old),
        f"__resumable/{TENANT}/{version}/1": plant(server, f"__resumable/{TENANT}/{version}/1", old),
    }
    minimum_age = ["--min-age", "3600"] if MODE == "file" else ["--min-age", "0"]
    if MODE == "file":
        # Fresh bytes are never strays under the default age: an upload may be about to commit.
        fresh = f"{TENANT}/{bucket}/fresh.txt/{version}"
        fresh_exists = plant(server, fresh)
        findings, _ = reconcile(server, "--dry-run")
        assert fresh not in {finding.get("stray") for finding in findings}
        assert fresh_exists()

    findings, summary = reconcile(server, "--dry-run", *minimum_age)
    found = {finding["stray"]: finding["removed"] for finding in findings if "stray" in finding}
    for key in strays:
        assert found.get(key) is False, (key, findings)
    assert lost_key(server, server.version_files(bucket, "kept.png")[0]) not in found
    missing = [finding for finding in findings if "missing" in finding]
    assert {"missing": f"{bucket}/lost.txt", "key": lost_key(server, lost)} in missing
    assert summary["strays"] >= 3 and summary["removed"] == 0 and summary["missing"] >= 1
    assert all(exists() for exists in strays.values())  # a dry run changes nothing

    findings, summary = reconcile(server, *minimum_age)
    removed = {finding["stray"] for finding in findings if finding.get("removed")}
    assert set(strays) <= removed
    assert not any(exists() for exists in strays.values())
    assert service.from_(bucket).download("kept.png") == b"\x89PNG kept"
    assert server.object_row(bucket, "lost.txt") is not None  # reported, never changed
    server.sql("delete from storage.objects where bucket_id = %s and name = 'lost.txt'", bucket)
    if MODE == "file":
        pathlib.Path(server.storage_dir / BACKEND_BUCKET / fresh).unlink()


def lost_key(server, location) -> str:
    if MODE == "file":
        return str(location.relative_to(server.storage_dir / BACKEND_BUCKET))
    return location.key
