"""Resumable uploads over TUS 1.0 (contract §5.11), in both storage modes.

Two storage-api processes share one database and one backend, as replicas would. The tus client
Supabase documents for Python (tuspy) drives the happy paths; raw HTTP drives the protocol's
edges. Every test checks the bytes that come back and that no piece is left behind.
"""

import base64
import hashlib
import os
import signal
import socket
import threading
import time
import uuid

import httpx
import psycopg
import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError

from conftest import (ANON_KEY, MODE, SERVICE_KEY, S3Location, Server, bearer, scratch_database, service_headers,
                      sign_jwt, user_token)

MiB = 1024 * 1024
LIMIT = 64 * MiB
TUS = {"Tus-Resumable": "1.0.0"}


def tus_metadata(**values) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


def upload_id(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[-1]


class Replicas:
    """Servers over one database and one backend, and ways to look at what they share."""

    def __init__(self, servers: list[Server]):
        self.servers = servers
        self.a, self.b = servers[0], servers[1]

    def rows(self):
        return self.a.sql("select id, received, upload_length, completed_at is not null from storage_api.resumable_uploads")

    def leftover_pieces(self) -> list:
        """Temporary pieces of resumable uploads, and multipart uploads in progress."""
        if MODE == "file":
            root = self.a.storage_dir / "stub" / "__resumable"
            return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
        keys = S3Location(self.a.s3, self.a.backend_bucket, "__resumable").keys()
        uploads = self.a.s3.list_multipart_uploads(Bucket=self.a.backend_bucket).get("Uploads", [])
        return sorted(keys) + sorted(upload["Key"] for upload in uploads)

    def wait_until_clean(self, timeout=15):
        """Pieces go after commit (or, while the backend is busy, a moment later)."""
        deadline = time.time() + timeout
        while self.leftover_pieces() and time.time() < deadline:
            time.sleep(0.2)
        assert self.leftover_pieces() == []


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    base = tmp_path_factory.mktemp("tus")
    env = {"UPLOAD_FILE_SIZE_LIMIT": str(LIMIT)}
    with scratch_database("compat_tus") as database_url:
        servers = [Server(os.environ["STORAGE_API_BINARY"], database_url, base / "storage", base / f"{n}.log",
                          extra_env=env) for n in "ab"]
        for server in servers:
            server.start()
        yield Replicas(servers)
        for server in servers:
            server.stop()


@pytest.fixture
def tus_bucket(replicas):
    name = f"tus-{uuid.uuid4().hex[:10]}"
    client = replicas.a.client()
    client.create_bucket(name)
    yield name
    client.empty_bucket(name)
    client.delete_bucket(name)


def create(server: Server, bucket: str, name: str, length: int | None, *, headers=None, path="/storage/v1",
           **metadata) -> httpx.Response:
    lengths = {"Upload-Length": str(length)} if length is not None else {"Upload-Defer-Length": "1"}
    return httpx.post(
        f"{server.root_url}{path}/upload/resumable",
        headers={**TUS, **lengths, **(headers if headers is not None else service_headers()),
                 "Upload-Metadata": tus_metadata(bucketName=bucket, objectName=name, **metadata)},
        timeout=60)


def patch(url: str, offset: int, data, *, headers=None, timeout=120) -> httpx.Response:
    return httpx.patch(
        url, content=data, timeout=timeout,
        headers={**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream",
                 **(headers if headers is not None else service_headers())})


def head(url: str, headers=None) -> httpx.Response:
    return httpx.head(url, headers={**TUS, **(headers if headers is not None else service_headers())}, timeout=30)


def on(server: Server, location: str) -> str:
    """The same upload URL, on another replica."""
    return f"{server.root_url}/storage/v1/upload/resumable/{upload_id(location)}"


def download(server: Server, bucket: str, name: str) -> bytes:
    response = httpx.get(f"{server.url}/object/{bucket}/{name}", headers=service_headers(), timeout=120)
    assert response.status_code == 200, response.text
    return response.content


def tuspy_upload(server: Server, bucket: str, name: str, data: bytes, chunk: int, **options):
    import io
    client = tus_client.TusClient(f"{server.url}/upload/resumable", headers=service_headers())
    uploader = client.uploader(
        file_stream=io.BytesIO(data), chunk_size=chunk,
        metadata={"bucketName": bucket, "objectName": name, "contentType": "application/x-tus-test",
                  "cacheControl": "3600"}, **options)
    uploader.upload()
    return uploader


# The client Supabase documents, end to end.

@pytest.mark.parametrize("size, chunk", [
    (0, MiB), (1, MiB), (123_457, 10_000), (50 * MiB, MiB), (50 * MiB, 5 * MiB), (50 * MiB, 7 * MiB),
])
def test_tuspy_uploads_round_trip(replicas, tus_bucket, size, chunk):
    data = os.urandom(size)
    name = f"dir/tuspy-{size}-{chunk}.bin"
    uploader = tuspy_upload(replicas.a, tus_bucket, name, data, chunk, upload_checksum=(size % 2 == 1))
    assert uploader.url.startswith(f"{replicas.a.url}/upload/resumable/")
    assert hashlib.sha256(download(replicas.b, tus_bucket, name)).digest() == hashlib.sha256(data).digest()
    info = replicas.a.client().from_(tus_bucket).info(name)
    assert info["size"] == size and info["content_type"] == "application/x-tus-test"
    assert info["cache_control"] == "max-age=3600"
    assert [row[1:] for row in replicas.rows() if row[0] == upload_id(uploader.url)] == [(size, size, True)]
    replicas.wait_until_clean()


def test_zero_byte_upload_finishes_at_creation(replicas, tus_bucket):
    response = create(replicas.a, tus_bucket, "empty.txt", 0, contentType="text/plain")
    assert response.status_code == 201 and response.headers["tus-complete"] == "1"
    assert download(replicas.a, tus_bucket, "empty.txt") == b""
    assert "upload-expires" not in response.headers


def test_chunks_alternate_between_replicas(replicas, tus_bucket):
    data = os.urandom(13 * MiB + 77)
    location = create(replicas.a, tus_bucket, "alternating.bin", len(data)).headers["location"]
    offset, turn = 0, 0
    for size in [1, 3 * MiB, 5 * MiB - 1, 12345, 2 * MiB, MiB]:
        response = patch(on(replicas.servers[turn % 2], location), offset, data[offset:offset + size])
        assert response.status_code == 204, response.text
        offset += size
        assert int(response.headers["upload-offset"]) == offset
        turn += 1
    final = patch(on(replicas.servers[turn % 2], location), offset, data[offset:])
    assert final.status_code == 204 and final.headers["tus-complete"] == "1"
    assert download(replicas.a, tus_bucket, "alternating.bin") == data
    replicas.wait_until_clean()


# Protocol surface.

def test_options_advertises_the_protocol(replicas):
    for path in ["/upload/resumable", "/storage/v1/upload/resumable", "/storage/v1/upload/resumable/sign"]:
        response = httpx.options(f"{replicas.a.root_url}{path}")
        assert response.status_code == 204
        assert response.headers["tus-resumable"] == "1.0.0" and response.headers["tus-version"] == "1.0.0"
        assert response.headers["tus-extension"] == (
            "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum")
        assert response.headers["tus-max-size"] == str(LIMIT)
        assert response.headers["tus-checksum-algorithm"] == "sha256,sha1,md5"


def test_locations_are_absolute_and_follow_the_proxy(replicas, tus_bucket):
    direct = create(replicas.a, tus_bucket, "a.bin", 10)
    assert direct.status_code == 201
    assert direct.headers["location"].startswith(f"http://127.0.0.1:{replicas.a.port}/storage/v1/upload/resumable/")
    root = create(replicas.a, tus_bucket, "b.bin", 10, path="")
    assert root.headers["location"].startswith(f"http://127.0.0.1:{replicas.a.port}/upload/resumable/")
    proxied = create(replicas.a, tus_bucket, "c.bin", 10, path="", headers=service_headers(**{
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "files.example.com", "X-Forwarded-Port": "8443",
        "X-Forwarded-Prefix": "/storage/v1/"}))
    assert proxied.headers["location"].startswith("https://files.example.com:8443/storage/v1/upload/resumable/")
    # The id is base64url of "<bucket>/<name>/<version>", no tenant, no padding.
    decoded = base64.urlsafe_b64decode(upload_id(direct.headers["location"]) + "==").decode()
    bucket, name, version = decoded.split("/")
    assert (bucket, name) == (tus_bucket, "a.bin") and uuid.UUID(version)
    for response in [direct, root, proxied]:
        assert httpx.delete(on(replicas.a, response.headers["location"]), headers={**TUS, **service_headers()}).status_code == 204
    replicas.wait_until_clean()


def test_head_patch_and_progress_headers(replicas, tus_bucket):
    data = os.urandom(3000)
    created = create(replicas.a, tus_bucket, "headers.bin", len(data), contentType="image/png", cacheControl="60")
    assert created.status_code == 201 and created.headers["tus-resumable"] == "1.0.0"
    assert "upload-expires" in created.headers and created.headers["upload-expires"].endswith(" GMT")
    url = created.headers["location"]
    first = patch(url, 0, data[:1000])
    assert first.status_code == 204 and first.headers["upload-offset"] == "1000"
    assert "upload-expires" in first.headers and "tus-complete" not in first.headers
    state = head(on(replicas.b, url))
    assert state.status_code == 200 and state.content == b""
    assert state.headers["upload-offset"] == "1000" and state.headers["upload-length"] == "3000"
    assert state.headers["cache-control"] == "no-store" and state.headers["upload-expires"] == created.headers["upload-expires"]
    echoed = dict(pair.split(" ") for pair in state.headers["upload-metadata"].split(","))
    assert base64.b64decode(echoed["cacheControl"]) == b"max-age=60"
    progress = httpx.get(url, headers=service_headers())
    assert progress.status_code == 200
    assert progress.json() | {"expiresAt": None} == {
        "id": upload_id(url), "bucketName": tus_bucket, "objectName": "headers.bin", "offset": 1000, "length": 3000,
        "percent": 33.33, "expiresAt": None, "completed": False}
    last = patch(url, 1000, data[1000:])
    assert last.status_code == 204 and last.headers["tus-complete"] == "1" and last.headers["upload-offset"] == "3000"
    assert "upload-expires" not in last.headers
    # Finished: HEAD reports the whole length; an empty PATCH at the end changes nothing.
    assert head(url).headers["upload-offset"] == "3000"
    assert patch(url, 3000, b"").status_code == 204
    assert httpx.get(url, headers=service_headers()).json()["completed"] is True
    assert download(replicas.a, tus_bucket, "headers.bin") == data
    assert replicas.a.client().from_(tus_bucket).info("headers.bin")["content_type"] == "image/png"


def test_deferred_length_and_creation_with_upload(replicas, tus_bucket):
    data = os.urandom(6 * MiB + 5)
    created = httpx.post(
        f"{replicas.a.url}/upload/resumable", content=data[:MiB], timeout=60,
        headers={**TUS, **service_headers(), "Upload-Defer-Length": "1", "Content-Type": "application/offset+octet-stream",
                 "Upload-Metadata": tus_metadata(bucketName=tus_bucket, objectName="deferred.bin")})
    assert created.status_code == 201 and created.headers["upload-offset"] == str(MiB)
    url = created.headers["location"]
    assert head(url).headers["upload-defer-length"] == "1" and "upload-length" not in head(url).headers
    middle = patch(url, MiB, data[MiB:5 * MiB])
    assert middle.status_code == 204, middle.text
    last = patch(url, 5 * MiB, data[5 * MiB:], headers=service_headers(**{"Upload-Length": str(len(data))}))
    assert last.status_code == 204 and last.headers["tus-complete"] == "1"
    assert download(replicas.a, tus_bucket, "deferred.bin") == data
    replicas.wait_until_clean()


# Refusals: the right status, a plain-text reason, and the offset left alone.

def test_protocol_errors(replicas, tus_bucket):
    url = create(replicas.a, tus_bucket, "errors.bin", 100).headers["location"]
    assert patch(url, 0, b"x" * 10).status_code == 204

    wrong_offset = patch(url, 5, b"abc")
    assert (wrong_offset.status_code, wrong_offset.text) == (409, "Upload-Offset conflict\n")
    too_long = patch(url, 10, b"x" * 91)
    assert (too_long.status_code, too_long.text) == (413, "upload's size exceeded\n")
    no_version = httpx.patch(url, content=b"a", headers={**service_headers(), "Upload-Offset": "10",
                                                          "Content-Type": "application/offset+octet-stream"})
    assert (no_version.status_code, no_version.text) == (412, "Tus-Resumable Required\n")
    no_offset = httpx.patch(url, content=b"a", headers={**TUS, **service_headers(), "Content-Type": "application/offset+octet-stream"})
    assert (no_offset.status_code, no_offset.text) == (403, "Upload-Offset header required\n")
    bad_type = patch(url, 10, b"a", headers=service_headers(**{"Content-Type": "application/octet-stream"}))
    assert (bad_type.status_code, bad_type.text) == (400, "Invalid content-type\n")
    bad_length = patch(url, 10, b"a", headers=service_headers(**{"Upload-Length": "100"}))
    assert (bad_length.status_code, bad_length.text) == (400, "Upload-Length or Upload-Defer-Length header required\n")
    unknown = head(f"{replicas.a.url}/upload/resumable/" + base64.urlsafe_b64encode(
        f"{tus_bucket}/nope/{uuid.uuid4()}".encode()).decode().rstrip("="))
    assert unknown.status_code == 404
    garbage = head(f"{replicas.a.url}/upload/resumable/not-an-id")
    assert garbage.status_code == 400
    assert head(url).headers["upload-offset"] == "10"
    assert httpx.delete(url, headers={**TUS, **service_headers()}).status_code == 204


def test_checksums(replicas, tus_bucket):
    data = os.urandom(2 * MiB)
    url = create(replicas.a, tus_bucket, "checksum.bin", len(data)).headers["location"]
    first = data[:MiB]
    wrong = base64.b64encode(hashlib.sha256(b"not this").digest()).decode()
    mismatch = patch(url, 0, first, headers=service_headers(**{"Upload-Checksum": f"sha256 {wrong}"}))
    assert mismatch.status_code == 460
    assert head(url).headers["upload-offset"] == "0"
    unsupported = patch(url, 0, first, headers=service_headers(**{"Upload-Checksum": "crc32 AAAAAA=="}))
    assert unsupported.status_code == 400 and head(url).headers["upload-offset"] == "0"
    for algorithm, offset in [("sha256", 0), ("md5", MiB // 2)]:
        piece = data[offset:offset + MiB // 2] if algorithm == "sha256" else data[offset:]
        digest = base64.b64encode(hashlib.new(algorithm, piece).digest()).decode()
        response = patch(url, offset, piece, headers=service_headers(**{"Upload-Checksum": f"{algorithm} {digest}"}))
        assert response.status_code == 204, response.text
    assert download(replicas.a, tus_bucket, "checksum.bin") == data
    replicas.wait_until_clean()


def test_creation_refusals(replicas, make_bucket_tus):
    limited = make_bucket_tus(file_size_limit=1000, allowed_mime_types=["image/png"])
    too_big = create(replicas.a, limited, "big.png", 1001, contentType="image/png")
    assert (too_big.status_code, too_big.text) == (413, "Maximum size exceeded\n")
    over_global = create(replicas.a, limited, "huge.png", LIMIT + 1, contentType="image/png")
    assert over_global.status_code == 413
    wrong_type = create(replicas.a, limited, "a.gif", 10, contentType="image/gif")
    assert (wrong_type.status_code, wrong_type.text) == (415, "mime type image/gif is not supported")
    missing_bucket = create(replicas.a, "no-such-bucket", "a.png", 10)
    assert (missing_bucket.status_code, missing_bucket.text) == (404, "Bucket not found")
    no_metadata = httpx.post(f"{replicas.a.url}/upload/resumable", headers={**TUS, **service_headers(), "Upload-Length": "1"})
    assert (no_metadata.status_code, no_metadata.text) == (400, "Metadata header is required")
    bad_key = create(replicas.a, limited, "a\u0001b.png", 10)
    assert bad_key.status_code == 400 and bad_key.text.startswith("Invalid key")
    no_length = httpx.post(f"{replicas.a.url}/upload/resumable", headers={
        **TUS, **service_headers(), "Upload-Metadata": tus_metadata(bucketName=limited, objectName="x.png")})
    assert no_length.status_code == 400
    # A JWT problem is not a TUS problem: it keeps the JSON envelope.
    no_jwt = create(replicas.a, limited, "a.png", 10, headers={"Authorization": "Bearer not-a-jwt"})
    assert no_jwt.status_code == 400 and no_jwt.json()["statusCode"] == "403"
    # Row-level security: anon may not insert here.
    anon = create(replicas.a, limited, "a.png", 10, headers=bearer(ANON_KEY), contentType="image/png")
    assert (anon.status_code, anon.text) == (403, "new row violates row-level security policy")
    # An existing key without x-upsert is a conflict at creation already.
    assert create(replicas.a, limited, "there.png", 0, contentType="image/png").status_code == 201
    duplicate = create(replicas.a, limited, "there.png", 5, contentType="image/png")
    assert (duplicate.status_code, duplicate.text) == (409, "The resource already exists")
    upsert = create(replicas.a, limited, "there.png", 5, contentType="image/png", headers=service_headers(**{"x-upsert": "true"}))
    assert upsert.status_code == 201
    assert patch(upsert.headers["location"], 0, b"12345").headers["tus-complete"] == "1"
    assert download(replicas.a, limited, "there.png") == b"12345"


def test_a_key_the_backend_cannot_store_is_refused_at_creation(replicas, tus_bucket):
    """Valid as a key, but not storable here (file mode: a segment over 255 bytes; S3: a `..`
    segment): refused at creation like a REST upload is, not after a row exists."""
    name = ("x" * 300 + "/f.bin") if MODE == "file" else "a/../f.bin"
    count = "select count(*) from storage_api.resumable_uploads"
    before = replicas.a.sql(count)
    refused = create(replicas.a, tus_bucket, name, 10)
    assert refused.status_code == 400 and refused.text.startswith("Invalid key"), (refused.status_code, refused.text)
    # Percent-encoded, or httpx would resolve the `..` away before sending.
    rest = httpx.post(f"{replicas.a.url}/object/{tus_bucket}/{name.replace('..', '%2E%2E')}", content=b"0123456789",
                      headers=service_headers(**{"Content-Type": "application/octet-stream"}))
    assert rest.status_code == 400 and rest.json()["code"] == "InvalidKey", (rest.status_code, rest.text)
    assert replicas.a.sql(count) == before, "the refused upload left a row"


@pytest.fixture
def make_bucket_tus(replicas):
    created = []

    def make(**options):
        name = f"tus-{uuid.uuid4().hex[:10]}"
        replicas.a.client().create_bucket(name, options=options or None)
        created.append(name)
        return name

    yield make
    for name in created:
        replicas.a.client().empty_bucket(name)
        replicas.a.client().delete_bucket(name)


def test_termination(replicas, tus_bucket):
    data = os.urandom(6 * MiB)
    url = create(replicas.a, tus_bucket, "terminated.bin", len(data) + 10).headers["location"]
    assert patch(url, 0, data).status_code == 204
    assert replicas.leftover_pieces() != []
    deleted = httpx.delete(on(replicas.b, url), headers={**TUS, **service_headers()})
    assert deleted.status_code == 204 and deleted.headers["tus-resumable"] == "1.0.0"
    assert head(url).status_code == 404
    assert patch(url, len(data), b"x").status_code == 404
    assert replicas.leftover_pieces() == []
    assert replicas.a.object_row(tus_bucket, "terminated.bin") is None
    done = create(replicas.a, tus_bucket, "done.bin", 3).headers["location"]
    assert patch(done, 0, b"abc").status_code == 204
    finished = httpx.delete(done, headers={**TUS, **service_headers()})
    assert (finished.status_code, finished.text) == (400, "Cannot terminate an already completed upload")
    assert download(replicas.a, tus_bucket, "done.bin") == b"abc"


def test_method_override_on_post(replicas, tus_bucket):
    """tus-js-client's `overridePatchMethod`: every step on an upload URL as a POST naming its method."""
    data = os.urandom(3 * MiB)
    url = create(replicas.a, tus_bucket, "override.bin", len(data)).headers["location"]

    def post(target, method, offset=None, content=b""):
        headers = {**TUS, **service_headers()}
        if method:
            headers["X-HTTP-Method-Override"] = method
        if offset is not None:
            headers.update({"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        return httpx.post(target, content=content, headers=headers, timeout=60)

    first = post(url, "PATCH", 0, data[:MiB])
    assert first.status_code == 204, first.text
    assert first.headers["upload-offset"] == str(MiB)
    probed = post(on(replicas.b, url), "head")
    assert (probed.status_code, probed.headers["upload-offset"], probed.headers["upload-length"]) == (200, str(MiB), str(len(data)))
    assert post(url, "GET").json()["offset"] == MiB
    # The overridden PATCH keeps PATCH's rules: a wrong offset is a conflict, nothing appended.
    assert post(url, "PATCH", 0, b"again").status_code == 409
    # Without an override, or naming a method upload URLs do not take: 405, nothing changes.
    for method in (None, "PUT", "POST"):
        refused = post(url, method)
        assert (refused.status_code, refused.text) == (405, "Method Not Allowed\n"), method
    assert head(url).headers["upload-offset"] == str(MiB)
    assert post(url, "PATCH", MiB, data[MiB:]).status_code == 204
    assert download(replicas.b, tus_bucket, "override.bin") == data
    # DELETE through the override: terminates an unfinished upload and leaves no piece.
    other = create(replicas.a, tus_bucket, "override-terminated.bin", 10).headers["location"]
    assert post(other, "PATCH", 0, b"12345").status_code == 204
    assert post(other, "DELETE").status_code == 204
    assert head(other).status_code == 404
    assert replicas.a.object_row(tus_bucket, "override-terminated.bin") is None
    replicas.wait_until_clean()
    # The override is allowed across origins (tus-js-client sends it from browsers).
    preflight = httpx.options(url, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert "x-http-method-override" in preflight.headers["access-control-allow-headers"]
    # The JWT is checked before the protocol, as on every TUS route.
    anonymous = httpx.post(url, headers={**TUS, "X-HTTP-Method-Override": "HEAD"})
    assert anonymous.status_code in (400, 403) and "statusCode" in anonymous.json()


def test_two_uploads_of_one_new_key_exactly_one_wins(replicas, tus_bucket):
    bodies = [os.urandom(3 * MiB), os.urandom(3 * MiB)]
    urls = [create(replicas.a, tus_bucket, "race.bin", len(body)).headers["location"] for body in bodies]
    results = [None, None]

    def finish(index):
        server = replicas.servers[index]
        results[index] = patch(on(server, urls[index]), 0, bodies[index])

    threads = [threading.Thread(target=finish, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(result.status_code for result in results)
    assert statuses == [204, 409], [(r.status_code, r.text) for r in results]
    winner = next(n for n, result in enumerate(results) if result.status_code == 204)
    loser = 1 - winner
    assert results[loser].text == "The resource already exists"
    assert download(replicas.a, tus_bucket, "race.bin") == bodies[winner]
    assert head(urls[loser]).status_code == 404
    assert len(replicas.a.version_files(tus_bucket, "race.bin")) == 1
    replicas.wait_until_clean()


def slow_body(data: bytes, piece: int, pause: float, stop: threading.Event | None = None):
    for start in range(0, len(data), piece):
        if stop is not None and stop.is_set():
            return
        yield data[start:start + piece]
        time.sleep(pause)


def test_a_second_patch_never_corrupts(replicas, tus_bucket):
    """One PATCH is streaming slowly when another arrives for the same upload: the second asks
    the first to let go (TUS "request release"); whatever each is told, the upload stays exact."""
    data = os.urandom(12 * MiB)
    url = create(replicas.a, tus_bucket, "contended.bin", len(data)).headers["location"]
    outcome = {}

    def slow():
        try:
            outcome["slow"] = patch(url, 0, slow_body(data, 256 * 1024, 0.05), timeout=120)
        except httpx.TransportError as error:
            outcome["slow"] = error

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(1.5)
    second = patch(on(replicas.b, url), 0, data)
    thread.join()
    first = outcome["slow"]
    assert second.status_code in (204, 409, 423), second.text
    if isinstance(first, httpx.Response):
        assert first.status_code in (204, 400, 409), first.text
    # Whatever happened, the upload continues from its real offset and ends exact.
    offset = int(head(url).headers["upload-offset"])
    if offset < len(data):
        assert patch(url, offset, data[offset:]).status_code == 204
    assert download(replicas.a, tus_bucket, "contended.bin") == data
    replicas.wait_until_clean()


def object_lock_key(bucket: str, name: str) -> int:
    """The advisory lock the server takes on one object's key (upstream's djb2 over UTF-16 units)."""
    value = 5381
    text = f"{bucket}/{name}".encode("utf-16-le")
    for start in range(0, len(text), 2):
        value = ((value * 33) ^ int.from_bytes(text[start:start + 2], "little")) & 0xFFFFFFFF
    return value


def test_a_patch_whose_lease_is_taken_over_while_it_writes_the_object_still_finishes(replicas, tus_bucket):
    """The chunk that brings the last byte is writing the object when its lease goes to someone
    else (under load its renewals ran late and the sweeper took the upload over). Every byte is
    recorded, so the PATCH answers 204 and the object is whole, not 400 "lock acquired"."""
    data = os.urandom(6 * MiB + 5)
    url = create(replicas.a, tus_bucket, "taken-over.bin", len(data)).headers["location"]
    # Hold the object's key so the finishing transaction waits there, then take the lease over.
    with psycopg.connect(replicas.a.database_url) as holder:
        holder.execute("select pg_advisory_xact_lock(%s)", (object_lock_key(tus_bucket, "taken-over.bin"),))
        outcome = {}
        thread = threading.Thread(target=lambda: outcome.update(response=patch(url, 0, data)))
        thread.start()
        deadline = time.time() + 30
        while not replicas.a.sql("select 1 from pg_locks where locktype = 'advisory' and not granted"):
            assert time.time() < deadline and thread.is_alive(), outcome
            time.sleep(0.05)
        taken = replicas.a.sql(
            "update storage_api.resumable_uploads set lease_epoch = lease_epoch + 1, lease_expires_at = null "
            "where id = %s and received = upload_length returning id", upload_id(url))
        assert len(taken) == 1
        holder.rollback()
        thread.join()
    response = outcome["response"]
    assert response.status_code == 204, response.text
    assert response.headers["upload-offset"] == str(len(data))
    assert download(replicas.b, tus_bucket, "taken-over.bin") == data
    assert [row[1:] for row in replicas.rows() if row[0] == upload_id(url)] == [(len(data), len(data), True)]
    assert len(replicas.a.version_files(tus_bucket, "taken-over.bin")) == 1
    replicas.wait_until_clean()


def test_signed_resumable_uploads(replicas, tus_bucket):
    owner = str(uuid.uuid4())
    http = httpx.Client(base_url=replicas.a.url, timeout=60)
    minted = http.post(f"/object/upload/sign/{tus_bucket}/signed/file.bin", headers=bearer(user_token(owner)))
    # The caller may not insert (no policy): minting is refused.
    assert minted.status_code == 400 and minted.json()["statusCode"] == "403"
    minted = http.post(f"/object/upload/sign/{tus_bucket}/signed/file.bin", headers=service_headers())
    assert minted.status_code == 200, minted.text
    token = minted.json()["token"]
    assert minted.json()["url"] == f"/object/upload/sign/{tus_bucket}/signed/file.bin?token={token}"
    signed = {"x-signature": token}

    # The unsigned route wants a JWT.
    unsigned = create(replicas.a, tus_bucket, "signed/file.bin", 5, headers=signed)
    assert unsigned.status_code == 400 and unsigned.json()["code"] == "InvalidRequest"
    created = httpx.post(
        f"{replicas.a.url}/upload/resumable/sign", timeout=60,
        headers={**TUS, **signed, "Upload-Length": "5",
                 "Upload-Metadata": tus_metadata(bucketName=tus_bucket, objectName="signed/file.bin")})
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    assert "/upload/resumable/sign/" in url
    assert head(url, headers=signed).headers["upload-offset"] == "0"
    missing = patch(url, 0, b"hello", headers={})
    assert (missing.status_code, missing.text) == (400, "Missing x-signature header")
    other = sign_jwt({"url": f"{tus_bucket}/other.bin", "upsert": False, "scope": "upload",
                      "exp": int(time.time()) + 60})
    wrong_path = patch(url, 0, b"hello", headers={"x-signature": other})
    assert (wrong_path.status_code, wrong_path.text) == (400, "Invalid signature")
    expired = sign_jwt({"url": f"{tus_bucket}/signed/file.bin", "upsert": False, "scope": "upload",
                        "exp": int(time.time()) - 10})
    late = patch(url, 0, b"hello", headers={"x-signature": expired})
    assert (late.status_code, late.text) == (400, '"exp" claim timestamp check failed')
    download_scoped = sign_jwt({"url": f"{tus_bucket}/signed/file.bin", "scope": "download",
                                "exp": int(time.time()) + 60})
    wrong_scope = patch(url, 0, b"hello", headers={"x-signature": download_scoped})
    assert (wrong_scope.status_code, wrong_scope.text) == (400, "Token is not scoped for upload")
    assert head(url, headers=signed).headers["upload-offset"] == "0"
    done = patch(url, 0, b"hello", headers=signed)
    assert done.status_code == 204 and done.headers["tus-complete"] == "1"
    assert download(replicas.a, tus_bucket, "signed/file.bin") == b"hello"

    # Plain signed upload (PUT with ?token=), as supabase-js uploadToSignedUrl does.
    put = http.put(f"/object/upload/sign/{tus_bucket}/signed/put.txt", params={"token": sign_jwt(
        {"url": f"{tus_bucket}/signed/put.txt", "upsert": False, "scope": "upload", "owner": owner,
         "exp": int(time.time()) + 60})}, content=b"put bytes", headers={"Content-Type": "text/plain"})
    assert put.status_code == 200 and put.json() == {"Key": f"{tus_bucket}/signed/put.txt"}
    assert replicas.a.object_row(tus_bucket, "signed/put.txt")[5] == owner
    replicas.wait_until_clean()


# Restarts and expiry: processes of their own.

@pytest.fixture
def lone_server(replicas, tmp_path):
    """One more replica over the shared database and backend, to kill or to configure."""
    servers = []

    def start(**env):
        server = Server(os.environ["STORAGE_API_BINARY"], replicas.a.database_url, replicas.a.storage_dir,
                        tmp_path / f"lone{len(servers)}.log", extra_env={"UPLOAD_FILE_SIZE_LIMIT": str(LIMIT), **env})
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(signal.SIGKILL)


def test_resume_after_the_server_is_killed_mid_patch(replicas, tus_bucket, lone_server):
    data = os.urandom(24 * MiB + 11)
    doomed = lone_server()
    url = create(doomed, tus_bucket, "killed.bin", len(data)).headers["location"]
    assert patch(url, 0, data[:8 * MiB]).status_code == 204

    def stream():
        try:
            patch(url, 8 * MiB, slow_body(data[8 * MiB:], 256 * 1024, 0.1), timeout=120)
        except httpx.TransportError:
            pass

    thread = threading.Thread(target=stream)
    thread.start()
    time.sleep(2)
    doomed.process.kill()
    doomed.process.wait()
    thread.join()
    # Killed mid-body: the upload is not complete.
    assert int(head(on(replicas.a, url)).headers["upload-offset"]) < len(data)
    # The upload lives on in the shared database and backend: another replica (or the same one
    # restarted) continues it with the client Supabase documents, once the dead holder's lease lapses.
    restarted = lone_server()
    import io
    uploader = tus_client.TusClient(f"{restarted.url}/upload/resumable", headers=service_headers()).uploader(
        file_stream=io.BytesIO(data), url=on(restarted, url), chunk_size=5 * MiB, retries=10, retry_delay=2)
    assert uploader.offset >= 8 * MiB
    uploader.upload()
    assert download(replicas.a, tus_bucket, "killed.bin") == data
    replicas.wait_until_clean(timeout=30)


def test_expired_uploads_are_swept(replicas, tus_bucket, lone_server):
    short = lone_server(TUS_URL_EXPIRY_MS="2000", TUS_SWEEP_INTERVAL_MS="300")
    url = on(short, create(short, tus_bucket, "expiring.bin", 7 * MiB).headers["location"])
    assert patch(url, 0, os.urandom(6 * MiB)).status_code == 204
    assert replicas.leftover_pieces() != []
    time.sleep(2.2)
    # Past its expiry: refused (410 until the sweeper has removed it, 404 after).
    assert head(url).status_code in (404, 410)
    assert patch(url, 6 * MiB, b"x" * MiB).status_code in (404, 410)
    deadline = time.time() + 20
    while time.time() < deadline and (replicas.leftover_pieces() or head(url).status_code != 404):
        time.sleep(0.3)
    assert head(url).status_code == 404
    assert replicas.leftover_pieces() == []
    assert [row for row in replicas.rows() if row[0] == upload_id(url)] == []
    assert replicas.a.object_row(tus_bucket, "expiring.bin") is None


def test_a_huge_content_length_is_refused_not_a_crash(replicas, tus_bucket):
    # offset + Content-Length would overflow a 64-bit integer: answered, never a trap.
    url = create(replicas.a, tus_bucket, "huge.bin", 10).headers["location"]
    assert patch(url, 0, b"abc").status_code == 204
    path = url.split(str(replicas.a.port), 1)[1]
    head_lines = (f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 3\r\n"
                  "Content-Type: application/offset+octet-stream\r\nContent-Length: 9223372036854775807\r\n"
                  + "".join(f"{k}: {v}\r\n" for k, v in service_headers().items()) + "\r\n")
    with socket.create_connection(("127.0.0.1", replicas.a.port), timeout=30) as sock:
        sock.sendall(head_lines.encode())
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert replicas.a.process.poll() is None
    assert int(head(url).headers["upload-offset"]) == 3
    assert httpx.delete(url, headers={**TUS, **service_headers()}).status_code == 204


def test_a_failed_creation_with_upload_leaves_nothing(replicas, tus_bucket):
    # The answer to a failed first chunk carries no Location: the upload must not linger.
    before = {row[0] for row in replicas.rows()}
    pieces_before = replicas.leftover_pieces()
    body = b"first chunk"
    response = httpx.post(
        f"{replicas.a.url}/upload/resumable", content=body, timeout=60,
        headers={**TUS, **service_headers(), "Upload-Length": str(len(body)),
                 "Content-Type": "application/offset+octet-stream",
                 "Upload-Checksum": "sha256 " + base64.b64encode(hashlib.sha256(b"other").digest()).decode(),
                 "Upload-Metadata": tus_metadata(bucketName=tus_bucket, objectName="failed-first.bin")})
    assert response.status_code == 460
    assert {row[0] for row in replicas.rows()} == before
    deadline = time.time() + 15
    while replicas.leftover_pieces() != pieces_before and time.time() < deadline:
        time.sleep(0.2)
    assert replicas.leftover_pieces() == pieces_before
