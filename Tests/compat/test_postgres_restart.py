"""Postgres restarted under load (issue 6, fault tests): while it is down every request gets a
JSON envelope (never an empty 500 or a dropped connection) and /health says 503 naming the
database; when it is back the pool recovers by itself and every object written is whole."""

import glob
import pathlib
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time

import httpx
import pytest

from conftest import SERVICE_KEY, Server, free_port, service_headers


class Cluster:
    """A private PostgreSQL cluster this test may stop and start."""

    def __init__(self, directory):
        self.bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        self.data = directory / "data"
        self.port = free_port()
        self.log = directory / "postgres.log"
        directory.mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, tool, *args):
        command = [f"{self.bin}/{tool}", *args]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd="/")

    def start(self):
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                 f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data} -c fsync=off",
                 "start")

    def stop(self):
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture(scope="module")
def restartable(tmp_path_factory):
    if os.getuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no postgres user")
    base = tmp_path_factory.mktemp("restart")
    # The postgres user cannot enter pytest's private temporary folder.
    cluster_dir = pathlib.Path(tempfile.mkdtemp(prefix="storage-api-restart-", dir="/var/tmp"))
    os.chmod(cluster_dir, 0o755)
    cluster = Cluster(cluster_dir / "cluster")
    cluster.start()
    server = Server(os.environ["STORAGE_API_BINARY"], cluster.url, base / "storage", base / "server.log",
                    extra_env={"LOG_LEVEL": "debug"})
    server.start()
    server.client(SERVICE_KEY).create_bucket("restart")
    yield cluster, server
    server.stop()
    try:
        cluster.stop()
    except subprocess.CalledProcessError:
        pass
    shutil.rmtree(cluster_dir, ignore_errors=True)


def test_postgres_restart_under_load(restartable):
    cluster, server = restartable
    outcomes, stop = [], threading.Event()

    def writer(n):
        with httpx.Client(base_url=server.url, timeout=30) as client:
            i = 0
            while not stop.is_set():
                name = f"w{n}/{i}.bin"
                data = f"{name}:".encode() * 200
                try:
                    response = client.post(f"/object/restart/{name}", content=data,
                                           headers=service_headers(**{"Content-Type": "application/octet-stream", "X-Request-Id": f"req-{n}-{i}"}))
                    body = response.json() if response.status_code != 200 else None
                    outcomes.append((time.monotonic(), response.status_code, body))
                except (httpx.TransportError, ValueError) as error:
                    outcomes.append((time.monotonic(), "broken", f"req-{n}-{i} " + repr(error)))
                i += 1
                time.sleep(0.02)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    cluster.stop()
    stopped_at = time.monotonic()
    time.sleep(1)
    health = httpx.get(f"{server.url}/health", timeout=30)
    assert health.status_code == 503
    assert health.json()["healthy"] is False and health.json()["database"].startswith("error")
    time.sleep(2)
    cluster.start()
    started_at = time.monotonic()
    deadline = started_at + 30
    while time.monotonic() < deadline and httpx.get(f"{server.url}/health", timeout=30).status_code != 200:
        time.sleep(0.2)
    assert httpx.get(f"{server.url}/health").status_code == 200
    time.sleep(max(0.0, started_at + 5 - time.monotonic()))
    stop.set()
    for thread in threads:
        thread.join()

    broken = [o for o in outcomes if o[1] == "broken"]
    assert not broken, broken[:3]
    failures = [o for o in outcomes if o[1] != 200]
    assert failures, "the outage produced no failed request"
    for _, status, body in failures:
        assert status >= 500, (status, body)
        assert isinstance(body, dict) and {"statusCode", "error", "message"} <= body.keys(), body
        # The database's failure (DatabaseTimeout 544, DatabaseError 500 with Postgres' reason),
        # never an unclassified internal error.
        assert body["error"] in ("DatabaseTimeout", "internal") and body["message"] != "Internal Server Error", body
    during = [o for o in outcomes if stopped_at + 0.5 < o[0] < started_at]
    assert during and all(o[1] != 200 for o in during)
    # Recovered by itself: requests that started a moment after the restart succeed.
    after = [o for o in outcomes if o[0] > started_at + 3]
    assert after and all(o[1] == 200 for o in after), after[:3]
    server.assert_consistent("restart")
    rows = server.sql("select name from storage.objects where bucket_id = 'restart'")
    client = server.client(SERVICE_KEY).from_("restart")
    for (name,) in rows[:20]:
        assert client.download(name) == f"{name}:".encode() * 200
