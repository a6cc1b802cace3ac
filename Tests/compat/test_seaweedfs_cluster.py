"""The load test on a SeaweedFS cluster while one of its volume servers dies and comes back.

A cluster as an operator would run one: a master with `-defaultReplication=001` (every volume on
two servers), three volume servers, and a filer with the S3 gateway, each its own process. Three
storage-api replicas serve the mixed workload of test_load.py; a few seconds in, one volume
server is SIGKILLed, stays down for a while, and is started again on its data.

What it proves: no object acknowledged before, during or after the outage is lost or corrupt
(every object of the model downloads with its bytes afterwards), the rows equal the model and the
backend holds exactly the rows' bytes (nothing orphaned by the writes that failed), and while the
server was down the only failures were clean ones: a 5xx answer in the Supabase envelope, or a
download cut short after its headers (the one way to report a failure once a 200 has started;
the client sees fewer bytes than Content-Length). Self-hosted mode only.
"""

import json
import os
import pathlib
import random
import signal
import socket
import subprocess
import threading
import time
import uuid

import httpx
import pytest

from conftest import MODE
from helpers_load import Failure, Record, replica_cluster, run_load

pytestmark = pytest.mark.skipif(MODE != "self-hosted", reason="a SeaweedFS cluster is an S3 backend")

CLIENTS = 60
WARM_UP_SECONDS = 8
DOWN_SECONDS = 20
# After the restart: clean errors may go on until the filer's view of volume locations settles.
SETTLE_SECONDS = 15
AFTER_SECONDS = 20


def low_port() -> int:
    """A free port whose gRPC companion (+10000) is free too, below Linux's ephemeral range
    (which SeaweedFS's own outgoing connections could take)."""
    while True:
        port = random.randint(20000, 32000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
            return port
        except OSError:
            pass


class SeaweedCluster:
    """weed master, volume servers and filer (with S3) as separate processes under `base`."""

    def __init__(self, weed: str, base: pathlib.Path, access: str, secret: str, volumes: int = 3):
        self.weed, self.base = weed, base
        self.access, self.secret = access, secret
        self.master = low_port()
        self.volume_ports = [low_port() for _ in range(volumes)]
        self.filer, self.s3 = low_port(), low_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self.endpoint = f"http://127.0.0.1:{self.s3}"

    def spawn(self, name: str, *arguments: str):
        log = open(self.base / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen([self.weed, *arguments], stdout=log, stderr=log)

    def start(self):
        (self.base / "master").mkdir(parents=True, exist_ok=True)
        (self.base / "s3.json").write_text(json.dumps({"identities": [{
            "name": "storage-api", "credentials": [{"accessKey": self.access, "secretKey": self.secret}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
        self.spawn("master", "master", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-port={self.master}",
                   f"-port.grpc={self.master + 10000}", f"-mdir={self.base / 'master'}", "-defaultReplication=001",
                   "-volumeSizeLimitMB=64", "-telemetry=false", "-resumeState=false")
        for index in range(len(self.volume_ports)):
            self.start_volume(index)
        self.spawn("filer", "filer", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-port={self.filer}",
                   f"-port.grpc={self.filer + 10000}", f"-master=127.0.0.1:{self.master}",
                   f"-defaultStoreDir={self.base}",
                   "-s3", f"-s3.port={self.s3}", f"-s3.port.grpc={self.s3 + 10000}", f"-s3.config={self.base / 's3.json'}",
                   "-s3.autoCreateBucket=false", "-s3.allowDeleteBucketNotEmpty=false", "-s3.port.iceberg=0", "-s3.port.lance=0")
        self.wait_ready()

    def start_volume(self, index: int):
        directory = self.base / f"volume{index}"
        directory.mkdir(parents=True, exist_ok=True)
        port = self.volume_ports[index]
        self.spawn(f"volume{index}", "volume", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-port={port}",
                   f"-port.grpc={port + 10000}", f"-dir={directory}", "-max=0", f"-master=127.0.0.1:{self.master}",
                   "-preStopSeconds=0")

    def kill_volume(self, index: int):
        process = self.processes[f"volume{index}"]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def volume_servers(self) -> int:
        """Volume servers the master knows about."""
        topology = httpx.get(f"http://127.0.0.1:{self.master}/dir/status", timeout=5).json()["Topology"]
        return sum(len(rack["DataNodes"] or []) for center in topology["DataCenters"] or [] for rack in center["Racks"] or [])

    def wait_ready(self):
        """Until every volume server has joined and a replicated write through S3 works."""
        import boto3
        from botocore.config import Config
        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=self.access,
                          aws_secret_access_key=self.secret,
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        probe = f"ready-{uuid.uuid4().hex[:8]}"
        deadline = time.time() + 90
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"weed {name} exited:\n" + self.log_tail(name))
            try:
                if self.volume_servers() == len(self.volume_ports):
                    s3.create_bucket(Bucket=probe)
                    s3.put_object(Bucket=probe, Key="ready", Body=b"ok")
                    assert s3.get_object(Bucket=probe, Key="ready")["Body"].read() == b"ok"
                    s3.delete_object(Bucket=probe, Key="ready")
                    s3.delete_bucket(Bucket=probe)
                    return
            except Exception:
                pass
            if time.time() > deadline:
                raise RuntimeError("the SeaweedFS cluster did not become ready:\n" + self.log_tail("filer"))
            time.sleep(0.5)

    def log_tail(self, name: str, lines: int = 20) -> str:
        try:
            return "\n".join((self.base / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self):
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    cluster = SeaweedCluster(os.environ["TEST_WEED_BINARY"], tmp_path_factory.mktemp("seaweed-cluster"),
                             os.environ["TEST_S3_ACCESS_KEY"], os.environ["TEST_S3_SECRET_KEY"])
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def replicas(seaweed, tmp_path_factory):
    with replica_cluster(tmp_path_factory.mktemp("cluster-load"), "cluster", {"S3_ENDPOINT": seaweed.endpoint}) as cluster:
        yield cluster


def test_load_while_a_volume_server_dies_and_returns(seaweed, replicas, capsys):
    until = threading.Event()
    window = {}

    def outage(record: Record):
        time.sleep(WARM_UP_SECONDS)
        done_before = sum(len(values) for values in record.latencies.values())
        # The server to kill holds volumes (replicas of what was written so far).
        window["volumes_on_it"] = len(list((seaweed.base / "volume1").glob("*.dat")))
        window["down"] = time.monotonic()
        seaweed.kill_volume(1)
        time.sleep(DOWN_SECONDS / 2)
        window["servers_while_down"] = seaweed.volume_servers()
        time.sleep(DOWN_SECONDS / 2)
        done_during = sum(len(values) for values in record.latencies.values()) - done_before
        seaweed.start_volume(1)
        window["up"] = time.monotonic()
        time.sleep(AFTER_SECONDS)
        window["during"] = done_during
        window["servers_after"] = seaweed.volume_servers()
        until.set()

    def clean_while_down(failure: Failure) -> bool:
        if not window["down"] <= failure.at <= window["up"] + SETTLE_SECONDS:
            return False
        if failure.status is not None:
            return failure.status >= 500 and failure.envelope
        # A download whose 200 had started: cut short, which the client detects.
        return failure.op == "download" and failure.transport == "RemoteProtocolError"

    record = run_load(replicas, capsys, client_count=CLIENTS, until=until, during=outage, tolerated=clean_while_down)
    with capsys.disabled():
        print(f"  volume server with {window['volumes_on_it']} volumes down for {DOWN_SECONDS} s "
              f"(master saw {window['servers_while_down']} of 3): {window['during']} operations completed meanwhile; "
              f"{window['servers_after']} volume servers after the restart")
    # The outage happened under load, to a server holding data, and the cluster is whole again.
    assert window["volumes_on_it"] > 0
    assert window["servers_while_down"] == 2
    assert window["during"] > 0
    assert window["servers_after"] == 3
    assert record.requests > 0
