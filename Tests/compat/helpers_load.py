"""The mixed workload of the load tests (test_load.py, test_seaweedfs_cluster.py): clients, the
model each keeps of its key space, and the checks of the outcome against it."""

import base64
import collections
import contextlib
import dataclasses
import hashlib
import math
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from conftest import MODE, S3Location, Server, scratch_database, service_headers
from helpers_objects import is_envelope

MiB = 1024 * 1024
SERVER_COUNT = 3
CLIENTS = 200
OPERATIONS = 10_000
MAX_SIZE = 16 * MiB
STABLE_OBJECTS = 30
TUS_CHUNK_SIZES = (5 * MiB, 6 * MiB)
# Relative weights of the operations each client draws from.
MIX = {
    "upload": 24, "upload_form": 6, "upsert": 8, "download": 18, "list_v1": 7, "list_v2": 7,
    "copy": 8, "move": 6, "delete": 6, "delete_bulk": 3, "tus": 1.5,
}
FOLDERS = ("a", "b", "a/deep")
TUS = {"Tus-Resumable": "1.0.0"}
# The default pool (20 per server) answers 544 DatabaseTimeout under this load: 67 requests in
# flight per server each hold a connection for part of their life. Sized as an operator would for
# the concurrency a replica takes (3 x 80 = 240 of Postgres's 300 connections).
# The pool's acquire wait (DATABASE_CONNECTION_TIMEOUT, 3 s by default) is raised to 10 s: on a
# 2-core machine also running Postgres, SeaweedFS and 200 client threads, a few requests in 10,000
# (6 in one CI run) waited longer than 3 s for a connection while new ones were being opened.
SERVER_ENV = {"DATABASE_MAX_CONNECTIONS": "80", "DATABASE_CONNECTION_TIMEOUT": "10000"}
# Seeds every client's random choices; set LOAD_TEST_SEED to replay a run.
SEED = int(os.environ.get("LOAD_TEST_SEED", random.randrange(1 << 30)))

# Content: slices of one random pool behind a unique prefix, so bodies are cheap to make and distinct.

POOL = os.urandom(MAX_SIZE + 64)


def body(rng: random.Random, size: int) -> bytes:
    prefix = rng.getrandbits(128).to_bytes(16, "big")
    if size <= len(prefix):
        return prefix[:size]
    start = rng.randrange(len(POOL) - size)
    return prefix + POOL[start:start + size - len(prefix)]


def skewed_size(rng: random.Random) -> int:
    """Log-uniform over 1 B..16 MiB with the exponent cubed: half the objects are under 8 KiB, one
    in 17 is over 1 MiB, the mean is about 340 KiB; 2% are empty."""
    if rng.random() < 0.02:
        return 0
    return min(MAX_SIZE, int(math.exp(math.log(MAX_SIZE) * rng.random() ** 3)))


def tus_size(rng: random.Random) -> int:
    """A third skewed like plain uploads (one chunk), two thirds 5..12 MiB (two or three chunks)."""
    return skewed_size(rng) if rng.random() < 1 / 3 else rng.randrange(5 * MiB, 12 * MiB)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclasses.dataclass(frozen=True)
class Stored:
    sha256: str
    size: int


# Recording

@dataclasses.dataclass
class Failure:
    op: str
    server: int
    method: str
    url: str
    outcome: str
    # The status answered (None: a transport error or a wrong answer) and whether the body was the
    # Supabase error envelope; when it happened (time.monotonic()).
    status: int | None = None
    envelope: bool = False
    transport: str | None = None
    at: float = dataclasses.field(default_factory=time.monotonic)

    def __str__(self):
        return f"[{self.op}] server {self.server}: {self.method} {self.url} -> {self.outcome}"


class Record:
    """Failures, latencies and bytes moved, shared by all clients."""

    def __init__(self):
        self.lock = threading.Lock()
        self.failures: list[Failure] = []
        self.latencies: dict[str, list[float]] = {}
        self.bytes_up = 0
        self.bytes_down = 0
        self.requests = 0

    def fail(self, failure: Failure):
        with self.lock:
            self.failures.append(failure)

    def done(self, op: str, seconds: float, up: int = 0, down: int = 0):
        with self.lock:
            self.latencies.setdefault(op, []).append(seconds)
            self.bytes_up += up
            self.bytes_down += down


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# The cluster

class Balancer:
    """Least connections with random tie-breaks, as a load balancer in front of replicas would
    route. (Load-oblivious random or round-robin routing lets a server that slows down collect
    most of the 200 closed-loop clients: 189 in flight on one server was measured.)"""

    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = [0] * SERVER_COUNT

    def pick(self, rng: random.Random) -> int:
        with self.lock:
            fewest = min(self.in_flight)
            return rng.choice([index for index, count in enumerate(self.in_flight) if count == fewest])

    @contextlib.contextmanager
    def sending(self, server: int):
        with self.lock:
            self.in_flight[server] += 1
        try:
            yield
        finally:
            with self.lock:
                self.in_flight[server] -= 1


class Cluster:
    def __init__(self, servers: list[Server], bucket: str):
        self.servers = servers
        self.bucket = bucket
        self.balancer = Balancer()

    @property
    def a(self) -> Server:
        return self.servers[0]

    def leftover_resumable_pieces(self) -> list:
        if MODE == "file":
            root = self.a.storage_dir / "stub" / "__resumable"
            return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
        return S3Location(self.a.s3, self.a.backend_bucket, "__resumable").keys()


@contextlib.contextmanager
def replica_cluster(base, name: str, extra_env: dict | None = None):
    """SERVER_COUNT servers over one fresh database and one backend (a shared folder in file
    mode), with a fresh bucket; each must stop cleanly afterwards."""
    with scratch_database(f"compat_{name}") as database_url:
        servers = [Server(os.environ["STORAGE_API_BINARY"], database_url, base / "storage", base / f"server{n}.log",
                          extra_env={**SERVER_ENV, **(extra_env or {})}) for n in range(SERVER_COUNT)]
        try:
            for server in servers:
                server.start()
            bucket = f"{name}-{uuid.uuid4().hex[:8]}"
            servers[0].client().create_bucket(bucket)
            yield Cluster(servers, bucket)
        finally:
            codes = [server.stop() for server in servers]
        assert codes == [0] * SERVER_COUNT, f"exit codes {codes}:\n" + "\n".join(s.log_tail(20) for s in servers)


# One client

class Client:
    """One simulated user: its own connection pool, random stream, key space and model of it."""

    def __init__(self, index: int, cluster: Cluster, stable: dict[str, Stored], record: Record):
        self.index = index
        self.cluster = cluster
        self.bucket = cluster.bucket
        self.stable = stable
        self.record = record
        self.rng = random.Random(SEED * 1000 + index)
        self.http = httpx.Client(timeout=httpx.Timeout(180, connect=30))
        self.objects: dict[str, Stored] = {}
        self.gone: set[str] = set()
        self.unknown: set[str] = set()  # keys whose state a failed request left open
        self.counter = 0

    # Requests

    def server(self) -> int:
        return self.cluster.balancer.pick(self.rng)

    def request(self, op: str, server: int, method: str, path: str, expected: int = 200, **options):
        """One request; anything but the expected status (or a transport error) is a failure -> None."""
        url = f"{self.cluster.servers[server].url}{path}"
        headers = {**service_headers(), **options.pop("headers", {})}
        with self.record.lock:
            self.record.requests += 1
        try:
            with self.cluster.balancer.sending(server):
                response = self.http.request(method, url, headers=headers, **options)
        except httpx.HTTPError as error:
            self.record.fail(Failure(op, server, method, url, f"{type(error).__name__}: {error}",
                                     transport=type(error).__name__))
            return None
        if response.status_code != expected:
            self.record.fail(Failure(op, server, method, url, f"{response.status_code} {response.text[:300]} "
                                                              f"(x-request-id {response.headers.get('x-request-id')})",
                                     status=response.status_code, envelope=is_envelope(response)))
            return None
        return response

    def check(self, op: str, server: int, method: str, url: str, condition: bool, detail: str) -> bool:
        if not condition:
            self.record.fail(Failure(op, server, method, url, f"wrong answer: {detail}"))
        return condition

    # Keys

    def new_key(self) -> str:
        self.counter += 1
        return f"w{self.index:03d}/{self.rng.choice(FOLDERS)}/{self.counter:04d}.bin"

    def own_key(self) -> str | None:
        return self.rng.choice(sorted(self.objects)) if self.objects else None

    def created(self, key: str, stored: Stored):
        self.objects[key] = stored
        self.gone.discard(key)

    def removed(self, key: str):
        self.objects.pop(key, None)
        self.gone.add(key)

    # Operations

    def run(self, operations: int | None, until: threading.Event | None = None):
        """`operations` operations, or (None) operations until `until` is set."""
        ops, weights = zip(*MIX.items())
        try:
            count = 0
            while (count < operations) if operations is not None else not until.is_set():
                count += 1
                op = self.rng.choices(ops, weights)[0]
                needs_object = op in ("upsert", "move", "delete", "delete_bulk")
                if needs_object and not self.objects:
                    op = "upload"
                started = time.perf_counter()
                up, down = getattr(self, op)()
                self.record.done(op, time.perf_counter() - started, up, down)
        finally:
            self.http.close()

    def upload(self, key: str | None = None, method: str = "POST", form: bool = False, op: str = "upload"):
        key = key or self.new_key()
        data = body(self.rng, skewed_size(self.rng))
        server = self.server()
        if form:
            response = self.request(op, server, method, f"/object/{self.bucket}/{key}",
                                    files={"file": ("blob.bin", data, "application/octet-stream")})
        else:
            upsert = {"x-upsert": "true"} if op == "upsert" and method == "POST" else {}
            headers = {"content-type": "application/octet-stream", **upsert}
            response = self.request(op, server, method, f"/object/{self.bucket}/{key}", content=data, headers=headers)
        if response is None:
            self.unknown.add(key)
            self.objects.pop(key, None)
        elif self.check(op, server, method, key, response.json().get("Key") == f"{self.bucket}/{key}", response.text):
            self.created(key, Stored(sha256(data), len(data)))
        return len(data), 0

    def upload_form(self):
        return self.upload(form=True, op="upload_form")

    def upsert(self):
        # Both upsert spellings: PUT (always upsert) and POST with x-upsert.
        return self.upload(self.own_key(), method=self.rng.choice(["PUT", "POST"]), op="upsert")

    def readable(self, own_share: float) -> tuple[str, Stored]:
        """A key to read and what it holds: one of this client's objects (this share of the time,
        when it has any), else one of the stable objects every client shares."""
        if self.objects and self.rng.random() < own_share:
            key = self.own_key()
            return key, self.objects[key]
        key = self.rng.choice(sorted(self.stable))
        return key, self.stable[key]

    def download(self):
        key, expected = self.readable(0.6)
        server = self.server()
        response = self.request("download", server, "GET", f"/object/{self.bucket}/{key}")
        if response is not None:
            self.check("download", server, "GET", key,
                       Stored(sha256(response.content), len(response.content)) == expected,
                       f"{len(response.content)} bytes, expected {expected.size}")
        return 0, len(response.content) if response is not None else 0

    def expected_level(self, folder: str) -> tuple[set[str], set[str]]:
        """Names directly in `wNNN/<folder>/`, and the sub-folders there, per the model."""
        prefix = f"w{self.index:03d}/{folder}/"
        files, folders = set(), set()
        for key in self.objects:
            if key.startswith(prefix):
                rest = key[len(prefix):]
                if "/" in rest:
                    folders.add(rest.split("/", 1)[0])
                else:
                    files.add(rest)
        return files, folders

    def list_v1(self):
        folder = self.rng.choice(["a", "b"])
        server = self.server()
        response = self.request("list_v1", server, "POST", f"/object/list/{self.bucket}", json={
            "prefix": f"w{self.index:03d}/{folder}", "limit": 1000, "offset": 0,
            "sortBy": {"column": "name", "order": "asc"}})
        if response is not None and not self.unknown:
            items = response.json()
            files = {item["name"] for item in items if item["id"] is not None}
            folders = {item["name"] for item in items if item["id"] is None}
            self.check("list_v1", server, "POST", folder, (files, folders) == self.expected_level(folder),
                       f"listed {sorted(files)} + folders {sorted(folders)}, model {self.expected_level(folder)}")
        return 0, len(response.content) if response is not None else 0

    def list_v2(self):
        server = self.server()
        own = f"w{self.index:03d}/"
        if self.rng.random() < 0.5:
            response = self.request("list_v2", server, "POST", f"/object/list-v2/{self.bucket}",
                                    json={"prefix": own, "limit": 1000})
            if response is not None and not self.unknown:
                page = response.json()
                listed = {item["name"]: item["metadata"]["size"] for item in page["objects"]}
                expected = {key: stored.size for key, stored in self.objects.items()}
                self.check("list_v2", server, "POST", own, (listed, page["hasNext"]) == (expected, False),
                           f"listed {listed}, model {expected}")
        else:
            folder = self.rng.choice(["a", "b"])
            prefix = f"{own}{folder}/"
            response = self.request("list_v2", server, "POST", f"/object/list-v2/{self.bucket}",
                                    json={"prefix": prefix, "limit": 1000, "with_delimiter": True})
            if response is not None and not self.unknown:
                page = response.json()
                files, folders = self.expected_level(folder)
                listed = ({item["name"] for item in page["objects"]}, {item["name"] for item in page["folders"]})
                expected = ({prefix + name for name in files}, {f"{prefix}{name}/" for name in folders})
                self.check("list_v2", server, "POST", prefix, listed == expected, f"listed {listed}, model {expected}")
        return 0, len(response.content) if response is not None else 0

    def copy(self):
        source, stored = self.readable(0.5)
        destination = self.new_key()
        server = self.server()
        response = self.request("copy", server, "POST", "/object/copy", json={
            "bucketId": self.bucket, "sourceKey": source, "destinationKey": destination})
        if response is None:
            self.unknown.add(destination)
        elif self.check("copy", server, "POST", destination, response.json().get("Key") == f"{self.bucket}/{destination}",
                        response.text):
            self.created(destination, stored)
        return 0, 0

    def move(self):
        source, destination = self.own_key(), self.new_key()
        server = self.server()
        response = self.request("move", server, "POST", "/object/move", json={
            "bucketId": self.bucket, "sourceKey": source, "destinationKey": destination})
        if response is None:
            self.unknown.update({source, destination})
            self.objects.pop(source, None)
        else:
            self.created(destination, self.objects[source])
            self.removed(source)
        return 0, 0

    def delete(self):
        key = self.own_key()
        server = self.server()
        response = self.request("delete", server, "DELETE", f"/object/{self.bucket}/{key}")
        if response is None:
            self.unknown.add(key)
            self.objects.pop(key, None)
        else:
            self.removed(key)
        return 0, 0

    def delete_bulk(self):
        keys = self.rng.sample(sorted(self.objects), min(len(self.objects), self.rng.randint(1, 3)))
        server = self.server()
        response = self.request("delete_bulk", server, "DELETE", f"/object/{self.bucket}", json={"prefixes": keys})
        if response is None:
            self.unknown.update(keys)
            for key in keys:
                self.objects.pop(key, None)
        else:
            deleted = sorted(row["name"] for row in response.json())
            self.check("delete_bulk", server, "DELETE", ",".join(keys), deleted == sorted(keys), f"deleted {deleted}")
            for key in keys:
                self.removed(key)
        return 0, 0

    def tus(self):
        """A resumable upload by hand: create on one server, each chunk on the next one round the ring."""
        key = self.new_key()
        data = body(self.rng, tus_size(self.rng))
        chunk = self.rng.choice(TUS_CHUNK_SIZES)
        server = self.server()
        metadata = ",".join(f"{name} {base64.b64encode(value.encode()).decode()}" for name, value in
                            {"bucketName": self.bucket, "objectName": key, "contentType": "application/x-load"}.items())
        response = self.request("tus", server, "POST", "/upload/resumable", expected=201, headers={
            **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata})
        if response is None:
            self.unknown.add(key)
            return len(data), 0
        upload_id = response.headers["location"].rstrip("/").rsplit("/", 1)[-1]
        offset, complete = 0, len(data) == 0
        if complete:
            self.check("tus", server, "POST", key, response.headers.get("tus-complete") == "1", "no Tus-Complete")
        while offset < len(data):
            server = (server + 1) % SERVER_COUNT
            piece = data[offset:offset + chunk]
            response = self.request("tus", server, "PATCH", f"/upload/resumable/{upload_id}", expected=204,
                                    content=piece, headers={**TUS, "Upload-Offset": str(offset),
                                                            "Content-Type": "application/offset+octet-stream"})
            if response is None or not self.check(
                    "tus", server, "PATCH", key, response.headers.get("upload-offset") == str(offset + len(piece)),
                    f"Upload-Offset {response.headers.get('upload-offset')}, expected {offset + len(piece)}"):
                # Already a failure; terminate the upload so the final checks judge the rest.
                self.unknown.add(key)
                self.request("tus", server, "DELETE", f"/upload/resumable/{upload_id}", expected=204, headers=TUS)
                return len(data), 0
            offset += len(piece)
            complete = response.headers.get("tus-complete") == "1"
        self.check("tus", server, "PATCH", key, complete, "last chunk without Tus-Complete: 1")
        self.created(key, Stored(sha256(data), len(data)))
        return len(data), 0


# The test

def seed_stable_objects(cluster: Cluster, rng: random.Random) -> dict[str, Stored]:
    stable = {}
    with httpx.Client(timeout=120) as http:
        for n in range(STABLE_OBJECTS):
            key = f"stable/{n:02d}.bin"
            data = body(rng, skewed_size(rng))
            response = http.post(f"{cluster.servers[n % SERVER_COUNT].url}/object/{cluster.bucket}/{key}",
                                 content=data, headers=service_headers(**{"content-type": "application/octet-stream"}))
            assert response.status_code == 200, response.text
            stable[key] = Stored(sha256(data), len(data))
    return stable


def verify_download(cluster: Cluster, key: str, expected: Stored | None, rng: random.Random) -> str | None:
    """Downloads `key` through a random server; the problem found, or None."""
    server = rng.randrange(SERVER_COUNT)
    url = f"{cluster.servers[server].url}/object/{cluster.bucket}/{key}"
    try:
        with httpx.stream("GET", url, headers=service_headers(), timeout=180) as response:
            if expected is None:
                response.read()
                if response.status_code == 400 and response.json().get("statusCode") == "404":
                    return None
                return f"server {server}: removed {key} answers {response.status_code} {response.text[:200]}"
            digest, size = hashlib.sha256(), 0
            for piece in response.iter_bytes(1024 * 1024):
                digest.update(piece)
                size += len(piece)
            if response.status_code != 200:
                return f"server {server}: {key} answers {response.status_code}"
            if Stored(digest.hexdigest(), size) != expected:
                return f"server {server}: {key} has {size} bytes / {digest.hexdigest()[:12]}, expected {expected}"
    except httpx.HTTPError as error:
        return f"server {server}: GET {key}: {type(error).__name__}: {error}"
    return None


class GaugeSampler(threading.Thread):
    """Samples the servers' in-flight gauges (/metrics) twice a second and keeps the peaks."""

    GAUGES = ("storage_http_active_requests", "storage_db_transactions_in_progress", "storage_uploads_in_progress")

    def __init__(self, cluster: Cluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.peaks = {(server, gauge): 0.0 for server in range(SERVER_COUNT) for gauge in self.GAUGES}
        self.stopping = threading.Event()

    def run(self):
        with httpx.Client(timeout=5) as http:
            while not self.stopping.wait(0.5):
                for index, server in enumerate(self.cluster.servers):
                    try:
                        text = http.get(f"{server.root_url}/metrics").text
                    except httpx.HTTPError:
                        continue
                    totals = dict.fromkeys(self.GAUGES, 0.0)
                    for line in text.splitlines():
                        series, _, value = line.rpartition(" ")
                        name = series.split("{", 1)[0]
                        if name in totals:
                            totals[name] += float(value)
                    for name, total in totals.items():
                        self.peaks[index, name] = max(self.peaks[index, name], total)

    def summary(self) -> str:
        return "\n".join(f"  peak {gauge} per server: " + ", ".join(
            f"{self.peaks[server, gauge]:.0f}" for server in range(SERVER_COUNT)) for gauge in self.GAUGES)


def report(record: Record, seconds: float, model_size: int, model_bytes: int, clients: int) -> str:
    operations = sum(len(values) for values in record.latencies.values())
    moved = record.bytes_up + record.bytes_down
    lines = [
        f"load test ({MODE}, seed {SEED}): {operations} operations ({record.requests} requests) by {clients} clients "
        f"over {SERVER_COUNT} servers in {seconds:.1f} s",
        f"  {operations / seconds:.1f} ops/s, {moved / MiB / seconds:.1f} MiB/s "
        f"(up {record.bytes_up / MiB:.0f} MiB, down {record.bytes_down / MiB:.0f} MiB)",
        f"  model at the end: {model_size} objects, {model_bytes / MiB:.0f} MiB",
        f"  {'op':<12}{'count':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}",
    ]
    for op, values in sorted(record.latencies.items()):
        lines.append(f"  {op:<12}{len(values):>7}{percentile(values, 0.5) * 1000:>10.0f}"
                     f"{percentile(values, 0.99) * 1000:>10.0f}{max(values) * 1000:>10.0f}")
    return "\n".join(lines)


def none_tolerated(failure: Failure) -> bool:
    return False


def run_load(cluster: Cluster, capsys, *, client_count: int = CLIENTS, operations: int = OPERATIONS,
             until: threading.Event | None = None, during=None, tolerated=none_tolerated) -> Record:
    """Runs the mixed workload and checks the outcome against the model: every object of the
    model downloads with its bytes, every removed key is gone, the rows equal the model and the
    backend holds exactly the rows' bytes. Clients run `operations` in all, or until `until` is
    set; `during(record)` runs on this thread meanwhile (to break things on schedule). Failed
    requests fail the test unless `tolerated(failure)`; wrong answers always do."""
    rng = random.Random(SEED)
    stable = seed_stable_objects(cluster, rng)
    record = Record()
    clients = [Client(index, cluster, stable, record) for index in range(client_count)]

    sampler = GaugeSampler(cluster)
    sampler.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(client_count) as pool:
        futures = [pool.submit(client.run, None if until else operations // client_count, until) for client in clients]
        if during:
            during(record)
        for future in futures:
            future.result()
    seconds = time.perf_counter() - started
    sampler.stopping.set()

    objects = dict(stable)
    gone, unknown = set(), set()
    for client in clients:
        objects.update(client.objects)
        gone |= client.gone
        unknown |= client.unknown
    gone -= set(objects) | unknown
    summary = report(record, seconds, len(objects), sum(stored.size for stored in objects.values()), client_count)
    with capsys.disabled():
        print("\n" + summary + "\n" + sampler.summary())

    # Every object of the model, and every removed key, through a random server.
    started = time.perf_counter()
    with ThreadPoolExecutor(64) as pool:
        checks = [pool.submit(verify_download, cluster, key, objects.get(key), random.Random(f"{SEED}{key}"))
                  for key in sorted(objects) + sorted(gone)]
        problems = [problem for future in checks if (problem := future.result())]
    with capsys.disabled():
        print(f"  verified {len(objects)} objects and {len(gone)} removed keys in {time.perf_counter() - started:.1f} s")

    # The database holds exactly the model (keys a failed request left open may go either way).
    rows = dict(cluster.a.sql("select name, (metadata->>'size')::bigint from storage.objects where bucket_id = %s",
                              cluster.bucket))
    expected_rows = {key: stored.size for key, stored in objects.items()}
    extra = sorted(set(rows) - set(expected_rows) - unknown)
    missing = sorted(set(expected_rows) - set(rows))
    wrong_size = sorted(key for key in set(rows) & set(expected_rows) if rows[key] != expected_rows[key])
    for label, keys in [("rows the model does not have", extra), ("objects of the model without a row", missing),
                        ("rows whose size differs from the model", wrong_size)]:
        if keys:
            problems.append(f"{len(keys)} {label}: {keys[:5]}")
    unfinished = cluster.a.sql("select id from storage_api.resumable_uploads where completed_at is null")
    if unfinished:
        problems.append(f"{len(unfinished)} resumable uploads left unfinished: {unfinished[:5]}")

    # The backend holds exactly the rows' bytes (replaced versions may be removed a moment later).
    deadline = time.time() + 30
    while True:
        try:
            cluster.a.assert_consistent(cluster.bucket)
            assert cluster.leftover_resumable_pieces() == [], "resumable pieces left in the backend"
            break
        except AssertionError as error:
            if time.time() > deadline:
                problems.append(f"backend: {str(error)[:1000]}")
                break
            time.sleep(1)

    # A wrong answer (neither a status nor a transport error) is never tolerated.
    forgiven = [f for f in record.failures if (f.status is not None or f.transport is not None) and tolerated(f)]
    failures = [failure for failure in record.failures if not any(failure is f for f in forgiven)]
    if tolerated is not none_tolerated:
        with capsys.disabled():
            print(f"  {len(forgiven)} failed requests tolerated: "
                  + str(dict(collections.Counter((f.op, f.status or f.transport) for f in forgiven))))
    kinds = collections.Counter((failure.op, failure.outcome.split(" ", 1)[0]) for failure in failures)
    assert not failures and not problems, (
        f"{len(failures)} failed requests (of {record.requests}) by operation and outcome: {dict(kinds)}; first ones:\n"
        + "\n".join(str(failure) for failure in failures[:10])
        + f"\n{len(problems)} differences from the model; first ones:\n" + "\n".join(problems[:10]))
    return record
