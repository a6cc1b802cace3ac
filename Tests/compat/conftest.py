"""Harness for the black-box compatibility suite.

Starts the built `storage-api` binary (STORAGE_API_BINARY) against a fresh database on the test
PostgreSQL cluster (TEST_DATABASE_URL), and gives tests the official storage3 client, raw HTTP,
SQL access and checks that nothing was left behind.
"""

import base64
import contextlib
import hashlib
import hmac
import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import uuid

import boto3
import httpx
import psycopg
import pytest
from botocore.config import Config
from storage3 import SyncStorageClient

SECRET = "compat-suite-secret-with-more-than-32-bytes"
# file (default) or self-hosted: the suite runs once per backend.
MODE = os.environ.get("COMPAT_STORAGE_MODE", "file")
TENANT = "storage-single-tenant"
BACKEND_BUCKET = "stub"
GLOBAL_LIMIT = 20 * 1024 * 1024
# "pgbouncer" in the pass that runs servers' queries through PgBouncer (DATABASE_POOL_URL); the
# harness starts it in transaction-pooling mode on TEST_PGBOUNCER_PORT.
POOLER = os.environ.get("COMPAT_DATABASE_POOLER", "")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(claims: dict | bytes, secret: str = SECRET, alg: str = "HS256", header: dict | None = None) -> str:
    """A compact JWS signed with HMAC; unsigned (empty signature) for any other `alg`, such as
    `none` in its spellings. `claims` may be raw payload bytes, JSON or not."""
    head = {"alg": alg, "typ": "JWT", **(header or {})}
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(payload)}"
    digests = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    if alg not in digests:
        return signing_input + "."
    signature = hmac.new(secret.encode(), signing_input.encode(), digests[alg]).digest()
    return f"{signing_input}.{b64url(signature)}"


def user_token(sub: str | None = None, role: str = "authenticated", **extra) -> str:
    claims = {"role": role, "exp": int(time.time()) + 3600, **extra}
    if sub is not None:
        claims["sub"] = sub
    return sign_jwt(claims)


ANON_KEY = sign_jwt({"role": "anon", "iat": int(time.time())})
SERVICE_KEY = sign_jwt({"role": "service_role", "iat": int(time.time())})
# The /s3 endpoint's static key pair (acts as the service role).
S3_PROTOCOL_KEY = "compat-s3-access-key"
S3_PROTOCOL_SECRET = "compat-s3-secret/" + uuid.uuid4().hex

def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A process's resident memory in KiB (`VmHWM`: its peak since start or the last reset)."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def through_pgbouncer(database_url: str) -> str:
    """The same database, reached through the harness's PgBouncer."""
    credentials, rest = database_url.rsplit("@", 1)
    return f"{credentials}@127.0.0.1:{os.environ['TEST_PGBOUNCER_PORT']}/{rest.split('/', 1)[1]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_client(endpoint: str | None = None):
    return boto3.client(
        "s3", endpoint_url=endpoint or os.environ["TEST_S3_ENDPOINT"], region_name="us-east-1",
        aws_access_key_id=os.environ["TEST_S3_ACCESS_KEY"], aws_secret_access_key=os.environ["TEST_S3_SECRET_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


class S3Location:
    """A key (or key prefix) in the backend bucket, with the little of pathlib.Path tests use."""

    def __init__(self, s3, bucket: str, key: str):
        self.s3, self.bucket, self.key = s3, bucket, key

    def __truediv__(self, part: str) -> "S3Location":
        return S3Location(self.s3, self.bucket, f"{self.key}/{part}" if self.key else part)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def keys(self) -> list[str]:
        """Every key equal to this one or under it as a folder."""
        found, token = [], None
        while True:
            page = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self.key, **({"ContinuationToken": token} if token else {}))
            found += [item["Key"] for item in page.get("Contents", [])
                      if item["Key"] == self.key or item["Key"].startswith(self.key + "/")]
            token = page.get("NextContinuationToken")
            if not token:
                return found

    def exists(self) -> bool:
        return bool(self.keys())

    def read_bytes(self) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()

    def __eq__(self, other):
        return isinstance(other, S3Location) and (self.bucket, self.key) == (other.bucket, other.key)

    def __lt__(self, other):
        return self.key < other.key

    def __hash__(self):
        return hash((self.bucket, self.key))

    def __repr__(self):
        return f"s3://{self.bucket}/{self.key}"


class Server:
    """A running storage-api process and ways to look at its database and backend."""

    def __init__(self, binary: str, database_url: str, storage_dir: pathlib.Path, log_path: pathlib.Path, extra_env=None):
        self.binary = binary
        self.database_url = database_url
        self.storage_dir = storage_dir
        self.log_path = log_path
        self.port = free_port()
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.root_url}/storage/v1"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": database_url,
            "AUTH_JWT_SECRET": SECRET,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "STORAGE_MODE": MODE,
            "FILE_STORAGE_BACKEND_PATH": str(storage_dir),
            "UPLOAD_FILE_SIZE_LIMIT": str(GLOBAL_LIMIT),
            "LOG_LEVEL": "info",
            # Session-token mode signs with the anon key: the server's is the suite's.
            "ANON_KEY": ANON_KEY,
            "S3_PROTOCOL_ACCESS_KEY_ID": S3_PROTOCOL_KEY,
            "S3_PROTOCOL_ACCESS_KEY_SECRET": S3_PROTOCOL_SECRET,
        }
        if POOLER == "pgbouncer":
            self.env["DATABASE_POOL_URL"] = through_pgbouncer(database_url)
        if MODE != "file":
            # Servers sharing a storage folder share a backend bucket, as replicas would.
            self.backend_bucket = "compat-" + hashlib.md5(str(storage_dir).encode()).hexdigest()[:12]
            self.s3 = s3_client()
            self.env.update({
                "S3_ENDPOINT": os.environ["TEST_S3_ENDPOINT"], "S3_ACCESS_KEY": os.environ["TEST_S3_ACCESS_KEY"],
                "S3_SECRET_KEY": os.environ["TEST_S3_SECRET_KEY"], "S3_BUCKET": self.backend_bucket,
                # Small parts, so moderate uploads take the multipart path.
                "S3_UPLOAD_PART_SIZE": str(5 * 1024 * 1024),
            })
            if extra_env and "S3_ENDPOINT" in extra_env:
                self.s3 = s3_client(extra_env["S3_ENDPOINT"])
        self.env.update(extra_env or {})
        self.process = None

    def start(self):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=log, stderr=log)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"storage-api exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/status", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"storage-api did not start:\n{self.log_tail()}")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.record_stuck_connections()
                self.process.kill()
                self.process.wait()
        return self.process.returncode if self.process else None

    def record_stuck_connections(self):
        """Appends the process's TCP connections to its log (which the failure shows): whether a
        shutdown that never ended waited on a client, the database or the backend."""
        listing = subprocess.run(["ss", "-tanp"], capture_output=True, text=True).stdout.splitlines()
        mine = [line for line in listing if f"pid={self.process.pid}," in line]
        with open(self.log_path, "a") as log:
            log.write(f"[compat] no exit {len(mine)} connections after SIGTERM:\n" + "\n".join(mine) + "\n")

    def log_tail(self, lines=40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # Clients

    def client(self, key: str = SERVICE_KEY) -> SyncStorageClient:
        return SyncStorageClient(f"{self.url}/", {"apikey": key, "Authorization": f"Bearer {key}"})

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    # Database

    def sql(self, query: str, *params):
        """Runs SQL as the database owner (deletes allowed); returns all rows, or [] for none."""
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            with connection.cursor() as cursor:
                cursor.execute("select set_config('storage.allow_delete_query', 'true', false)")
                cursor.execute(query, params)
                return cursor.fetchall() if cursor.description else []

    def object_row(self, bucket: str, name: str):
        rows = self.sql(
            "select id, version, metadata, user_metadata, owner, owner_id from storage.objects "
            "where bucket_id = %s and name = %s", bucket, name)
        return rows[0] if rows else None

    # Backend: the storage folder in file mode, the backend bucket otherwise.

    def bucket_dir(self, bucket: str):
        if MODE == "file":
            return self.storage_dir / BACKEND_BUCKET / TENANT / bucket
        return S3Location(self.s3, self.backend_bucket, f"{TENANT}/{bucket}")

    def version_files(self, bucket: str, name: str) -> list:
        """The stored versions of one object (entries directly inside its key folder)."""
        directory = self.bucket_dir(bucket) / name
        if MODE != "file":
            prefix = directory.key + "/"
            return sorted(S3Location(self.s3, self.backend_bucket, key) for key in directory.keys()
                          if key.startswith(prefix) and "/" not in key[len(prefix):])
        if not directory.is_dir():
            return []
        return sorted(p for p in directory.iterdir() if p.is_file())

    def all_files(self, bucket: str) -> list:
        directory = self.bucket_dir(bucket)
        if MODE != "file":
            return sorted(S3Location(self.s3, self.backend_bucket, key) for key in directory.keys())
        return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []

    def temporary_files(self) -> list:
        """Partial uploads: temporary files, or multipart uploads in progress."""
        if MODE != "file":
            uploads = self.s3.list_multipart_uploads(Bucket=self.backend_bucket).get("Uploads", [])
            return sorted(upload["Key"] for upload in uploads)
        directory = self.storage_dir / ".tmp"
        return sorted(directory.iterdir()) if directory.exists() else []

    def assert_nothing_left(self, bucket: str, name: str):
        """No row, no stored version, no partial upload for this key."""
        assert self.object_row(bucket, name) is None, f"row left behind for {bucket}/{name}"
        assert self.version_files(bucket, name) == [], f"bytes left behind for {bucket}/{name}"
        assert self.temporary_files() == [], "partial upload left in the temporary folder"

    def assert_consistent(self, bucket: str):
        """Every row has exactly its bytes and there are no bytes without a row."""
        rows = self.sql("select name, version from storage.objects where bucket_id = %s", bucket)
        expected = {self.bucket_dir(bucket) / name / version for name, version in rows}
        stored = set(self.all_files(bucket))
        assert stored == expected, f"bytes without a row: {stored - expected}; rows without bytes: {expected - stored}"
        assert self.temporary_files() == [], f"partial uploads left: {self.temporary_files()}"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    binary = os.environ.get("STORAGE_API_BINARY")
    admin_url = os.environ.get("TEST_DATABASE_URL")
    if not binary or not admin_url:
        pytest.fail("run through scripts/test (STORAGE_API_BINARY and TEST_DATABASE_URL are required)")
    name = f"compat_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    database_url = admin_url.rsplit("/", 1)[0] + "/" + name
    base = tmp_path_factory.mktemp("server")
    instance = Server(binary, database_url, base / "storage", base / "server.log")
    instance.start()
    yield instance
    code = instance.stop()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'drop database if exists "{name}" with (force)')
    assert code == 0, f"storage-api did not shut down cleanly ({code}):\n{instance.log_tail()}"


@pytest.fixture(scope="session")
def service(server) -> SyncStorageClient:
    """storage3 with the service-role key (bypasses RLS)."""
    return server.client(SERVICE_KEY)


@pytest.fixture(scope="session")
def anon(server) -> SyncStorageClient:
    return server.client(ANON_KEY)


@pytest.fixture
def http(server):
    with server.http() as client:
        yield client


@pytest.fixture
def bucket(server, service):
    """A fresh private bucket, emptied and removed afterwards."""
    name = f"b-{uuid.uuid4().hex[:12]}"
    service.create_bucket(name)
    yield name
    service.empty_bucket(name)
    service.delete_bucket(name)


@contextlib.contextmanager
def bucket_factory(service):
    """A function creating buckets with options; all are emptied and removed on exit."""
    created = []

    def make(**options):
        name = f"b-{uuid.uuid4().hex[:12]}"
        service.create_bucket(name, options=options or None)
        created.append(name)
        return name

    try:
        yield make
    finally:
        for name in created:
            service.empty_bucket(name)
            service.delete_bucket(name)


@pytest.fixture
def make_bucket(server, service):
    """Creates buckets with options; all are emptied and removed afterwards."""
    with bucket_factory(service) as make:
        yield make


@contextlib.contextmanager
def scratch_database(prefix: str):
    """A fresh database on the test cluster for servers a test starts itself; dropped on exit."""
    admin_url = os.environ["TEST_DATABASE_URL"]
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'drop database if exists "{name}" with (force)')


@contextlib.contextmanager
def lone_server(base: pathlib.Path, prefix: str, env: dict):
    """One server of its own, with `env` on top of the suite's settings, over a scratch database."""
    with scratch_database(prefix) as database_url:
        instance = Server(os.environ["STORAGE_API_BINARY"], database_url, base / "storage", base / "server.log",
                          extra_env=env)
        instance.start()
        try:
            yield instance
        finally:
            instance.stop()


def service_headers(**extra) -> dict:
    return {"Authorization": f"Bearer {SERVICE_KEY}", "apikey": SERVICE_KEY, **extra}


def bearer(token: str, **extra) -> dict:
    return {"Authorization": f"Bearer {token}", "apikey": ANON_KEY, **extra}
