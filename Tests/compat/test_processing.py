"""Processing (docs/contract.md §12.3): a new version in a bucket with steps is pending until every
step passed; nobody reads unchecked bytes; rejected versions leave the previous one untouched.
Real parts: clamd (Debian's clamav-daemon, a signature database made from the EICAR string, started
by scripts/test), and a hook receiver in this file."""
import base64
import hashlib
import http.server
import io
import json
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

from conftest import MODE, SERVICE_KEY, Server, s3_client, scratch_database, user_token

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SERVICE = {"Authorization": f"Bearer {SERVICE_KEY}"}
# clamd marks signatures of a database it did not get from ClamAV "UNOFFICIAL".
REJECTED = "clamav: Eicar-Test-Signature.UNOFFICIAL FOUND"


def clamd_address():
    address = os.environ.get("TEST_CLAMD_ADDRESS")
    if not address:
        pytest.fail("run through scripts/test (TEST_CLAMD_ADDRESS: clamd started by the test command)")
    return address


class Hook:
    """A `webhook` step receiver: records each request; `answer(document)` returns (status, body)
    or None to hold the request until `release` is set, then answer `after_release`."""

    def __init__(self):
        self.requests = []
        self.answer = lambda document: (200, {"outcome": "continue"})
        self.release = threading.Event()
        self.after_release = (200, {"outcome": "continue"})
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                document = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                with hook.lock:
                    hook.requests.append(document)
                answer = hook.answer(document)
                if answer is None:
                    hook.release.wait(60)
                    answer = hook.after_release
                status, body = answer
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/check"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    instance = Hook()
    yield instance
    instance.stop()


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def config(hook=None, clamav=None):
    """Buckets: `scan` (clamav, sniff-mime, sha256; delete), `jail` (clamav; quarantine), `hooked`
    (sha256 then the hook), `open-fail` (clamd unreachable, fail open), `closed-fail` (fail closed)."""
    buckets = {
        "scan": {"steps": ["clamav", "sniff-mime", "sha256"], "on_reject": "delete"},
        "jail": {"steps": ["clamav"], "on_reject": "quarantine"},
        "closed-fail": {"steps": ["sha256", "clamav"], "max_attempts": 3, "retry_backoff_ms": 100},
    }
    if hook:
        buckets["hooked"] = {"steps": ["sha256", {"webhook": {"url": hook.url, "timeout_ms": 20000}}],
                             "max_attempts": 3, "retry_backoff_ms": 100}
    return {"clamav": {"address": clamav or clamd_address()}, "buckets": buckets}


@pytest.fixture
def processing(tmp_path):
    """Starts servers (replicas: one database, one backend) with a processing configuration."""
    started = []
    with scratch_database("compat_processing") as database:
        def start(document, **env):
            path = tmp_path / f"processing-{len(started)}.json"
            path.write_text(json.dumps(document))
            server = Server(os.environ["STORAGE_API_BINARY"], database, tmp_path / "storage",
                            tmp_path / f"server-{len(started)}.log",
                            extra_env={"PROCESSING_CONFIG": str(path), "PROCESSING_LEASE_MS": "2000", **env})
            server.start()
            started.append(server)
            with server.http() as http:
                for name in config()["buckets"] | {"hooked": 1, "plain": 1, "shipped": 1}:
                    http.post("/bucket", json={"name": name}, headers=SERVICE)
            return server

        yield start
        for server in started:
            server.stop(signal.SIGKILL)


def job(server, bucket, name):
    rows = server.sql(
        "select state, reason, quarantined, version from storage_api.processing_jobs "
        "where bucket_id = %s and name = %s order by created_at desc limit 1", bucket, name)
    return rows[0] if rows else None


def events(server, bucket, name):
    return [t for (t,) in server.sql(
        "select type from storage_api.events where bucket_id = %s and name = %s order by seq", bucket, name)]


def assert_unreadable(server, http, bucket, name):
    assert server.object_row(bucket, name) is None
    assert http.get(f"/object/{bucket}/{name}", headers=SERVICE).status_code == 400
    assert http.get(f"/object/info/{bucket}/{name}", headers=SERVICE).status_code in (400, 404)
    listed = http.post(f"/object/list/{bucket}", json={"prefix": ""}, headers=SERVICE).json()
    assert name not in [entry["name"] for entry in listed]
    signed = http.post(f"/object/sign/{bucket}/{name}", json={"expiresIn": 60}, headers=SERVICE)
    assert signed.status_code == 400, signed.text


def test_eicar_is_rejected_on_every_upload_path_and_never_readable(processing):
    server = processing(config())
    with server.http() as http:
        # REST POST, raw body.
        answer = http.post("/object/scan/raw.txt", content=EICAR, headers={**SERVICE, "content-type": "text/plain"})
        assert answer.status_code == 422, answer.text
        assert answer.json() == {"statusCode": "422", "error": "ObjectRejected", "message": REJECTED, "code": "ObjectRejected"}
        # REST PUT (upsert) and a multipart form.
        answer = http.put("/object/scan/put.txt", content=EICAR, headers={**SERVICE, "content-type": "text/plain"})
        assert answer.status_code == 422
        answer = http.post("/object/scan/form.txt", files={"file": ("form.txt", EICAR, "text/plain")}, headers=SERVICE)
        assert answer.status_code == 422, answer.text
        # A signed upload URL.
        url = http.post("/object/upload/sign/scan/signed.txt", headers=SERVICE).json()["url"]
        answer = http.put(url, content=EICAR, headers={"content-type": "text/plain"})
        assert answer.status_code == 422
        assert answer.json()["message"] == REJECTED
        # A copy into the bucket of an object that was never scanned.
        assert http.post("/object/plain/source.txt", content=EICAR, headers={**SERVICE, "content-type": "text/plain"}).status_code == 200
        answer = http.post("/object/copy", json={"bucketId": "plain", "sourceKey": "source.txt", "destinationBucket": "scan",
                                                 "destinationKey": "copied.txt"}, headers=SERVICE)
        assert answer.status_code == 422, answer.text
    # TUS: the final PATCH answers 422 in plain text.
    uploader = tus_client.TusClient(f"{server.url}/upload/resumable", headers=SERVICE).uploader(
        file_stream=io.BytesIO(EICAR), chunk_size=1 << 20,
        metadata={"bucketName": "scan", "objectName": "tus.txt", "contentType": "text/plain"})
    with pytest.raises(TusCommunicationError) as failure:
        uploader.upload()
    assert failure.value.status_code == 422
    assert REJECTED in str(failure.value.response_content)

    with server.http() as http:
        for name in ["raw.txt", "put.txt", "form.txt", "signed.txt", "copied.txt", "tus.txt"]:
            assert_unreadable(server, http, "scan", name)
            assert job(server, "scan", name)[:3] == ("rejected", REJECTED, False), name
            # on_reject: delete leaves no bytes.
            assert server.version_files("scan", name) == [], name
            assert events(server, "scan", name) == ["ObjectRejected"], name
            status = http.get(f"/object/status/scan/{name}", headers=SERVICE).json()
            assert status["state"] == "rejected"
            assert status["steps"][0] == {"name": "clamav", "state": "failed", "detail": "Eicar-Test-Signature.UNOFFICIAL FOUND"}
            assert [s["state"] for s in status["steps"][1:]] == ["pending", "pending"]


def test_a_clean_file_is_ready_byte_exact_with_its_hash(processing):
    server = processing(config())
    body = os.urandom(3 * 1024 * 1024 + 17)
    with server.http() as http:
        answer = http.post("/object/scan/clean.bin", content=body, headers={**SERVICE, "content-type": "application/octet-stream"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["Key"] == "scan/clean.bin"
        assert http.get("/object/scan/clean.bin", headers=SERVICE).content == body
        row = server.object_row("scan", "clean.bin")
        assert row[2]["sha256"] == hashlib.sha256(body).hexdigest()
        status = http.get("/object/status/scan/clean.bin", headers=SERVICE).json()
        assert status["state"] == "ready"
        assert status["sha256"] == hashlib.sha256(body).hexdigest()
        assert [(s["name"], s["state"]) for s in status["steps"]] == [("clamav", "passed"), ("sniff-mime", "passed"), ("sha256", "passed")]
        assert status["version"] == row[1]
        # ObjectCreated only once the version is current.
        assert events(server, "scan", "clean.bin") == ["ObjectCreated:Post"]
        # A clean TUS upload answers 204 as usual.
    uploader = tus_client.TusClient(f"{server.url}/upload/resumable", headers=SERVICE).uploader(
        file_stream=io.BytesIO(body), chunk_size=1 << 20,
        metadata={"bucketName": "scan", "objectName": "tus.bin", "contentType": "application/octet-stream"})
    uploader.upload()
    with server.http() as http:
        assert http.get("/object/scan/tus.bin", headers=SERVICE).content == body
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'storage_processing_jobs_total{state="ready"} 2' in metrics
    assert 'storage_processing_steps_total{step="clamav",outcome="passed"} 2' in metrics


def test_an_upsert_that_is_rejected_keeps_the_previous_version(processing):
    server = processing(config())
    with server.http() as http:
        assert http.post("/object/scan/keep.txt", content=b"good bytes", headers={**SERVICE, "content-type": "text/plain"}).status_code == 200
        before = server.object_row("scan", "keep.txt")
        answer = http.post("/object/scan/keep.txt", content=b"prefix " + EICAR,
                           headers={**SERVICE, "content-type": "text/plain", "x-upsert": "true"})
        assert answer.status_code == 422
        assert http.get("/object/scan/keep.txt", headers=SERVICE).content == b"good bytes"
        assert server.object_row("scan", "keep.txt")[1] == before[1]
        assert server.version_files("scan", "keep.txt") == [server.bucket_dir("scan") / "keep.txt" / before[1]]
        assert events(server, "scan", "keep.txt") == ["ObjectCreated:Post", "ObjectRejected"]
        # Without x-upsert an existing key is refused before anything runs.
        answer = http.post("/object/scan/keep.txt", content=b"again", headers={**SERVICE, "content-type": "text/plain"})
        assert answer.status_code == 400 and answer.json()["statusCode"] == "409"


def test_quarantine_keeps_the_bytes_but_nobody_reads_them(processing):
    server = processing(config())
    with server.http() as http:
        assert http.post("/object/jail/bad.txt", content=EICAR, headers={**SERVICE, "content-type": "text/plain"}).status_code == 422
        assert_unreadable(server, http, "jail", "bad.txt")
        state, reason, quarantined, version = job(server, "jail", "bad.txt")
        assert (state, quarantined) == ("rejected", True)
        [kept] = server.version_files("jail", "bad.txt")
        assert kept.read_bytes() == EICAR and kept.name == version


def test_sniff_mime_rejects_content_that_is_not_its_declared_type(processing):
    server = processing(config())
    with server.http() as http:
        answer = http.post("/object/scan/image.png", content=b"<html><script>alert(1)</script></html>",
                           headers={**SERVICE, "content-type": "image/png"})
        assert answer.status_code == 422
        assert answer.json()["message"] == "sniff-mime: the content is text/html, not image/png"
        png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
        assert http.post("/object/scan/real.png", content=png, headers={**SERVICE, "content-type": "image/png"}).status_code == 200


def test_pending_is_invisible_and_respond_async_answers_202_with_its_status(processing, hook):
    server = processing(config(hook))
    owner = str(uuid.uuid4())
    token = user_token(owner)
    server.sql("create policy hooked_all on storage.objects for all to authenticated "
               "using (bucket_id = 'hooked') with check (bucket_id = 'hooked')")
    user = {"Authorization": f"Bearer {token}"}
    with server.http() as http:
        assert http.post("/object/hooked/doc.bin", content=b"version one", headers=user).status_code == 200
        hook.answer = lambda document: None
        v2 = os.urandom(100_000)
        answer = http.post("/object/hooked/doc.bin", content=v2, headers={**user, "x-upsert": "true", "Prefer": "respond-async"})
        assert answer.status_code == 202, answer.text
        assert answer.headers["location"] == "/storage/v1/object/status/hooked/doc.bin"
        assert answer.json()["state"] == "pending"
        # The hook has the request; the previous version is what everyone reads meanwhile.
        deadline = time.time() + 10
        while len(hook.requests) < 2 and time.time() < deadline:
            time.sleep(0.05)
        document = hook.requests[-1]
        assert document["bucketId"] == "hooked" and document["name"] == "doc.bin"
        assert document["sha256"] == hashlib.sha256(v2).hexdigest()
        for headers in (user, SERVICE):
            assert http.get("/object/hooked/doc.bin", headers=headers).content == b"version one"
            listed = http.post("/object/list/hooked", json={"prefix": ""}, headers=headers).json()
            assert [entry["metadata"]["size"] for entry in listed if entry["name"] == "doc.bin"] == [len(b"version one")]
        # The hook's signed URL reads the pending bytes, and only that version.
        assert httpx.get(document["url"]).content == v2
        status = http.get(answer.headers["location"].removeprefix("/storage/v1"), headers=user).json()
        assert status["state"] == "pending"
        assert [(s["name"], s["state"]) for s in status["steps"]] == [("sha256", "passed"), ("webhook", "pending")]
        # Another user sees no status.
        assert http.get("/object/status/hooked/doc.bin", headers={"Authorization": f"Bearer {user_token(str(uuid.uuid4()))}"}).status_code == 404
        hook.release.set()
        deadline = time.time() + 10
        while http.get("/object/status/hooked/doc.bin", headers=user).json()["state"] == "pending" and time.time() < deadline:
            time.sleep(0.05)
        assert http.get("/object/status/hooked/doc.bin", headers=user).json()["state"] == "ready"
        assert http.get("/object/hooked/doc.bin", headers=user).content == v2
        # The version is current now: its URL still reads it.
        assert httpx.get(document["url"]).content == v2
        assert events(server, "hooked", "doc.bin") == ["ObjectCreated:Post", "ObjectCreated:Put"]


def test_a_hook_that_asks_to_retry_and_then_rejects(processing, hook):
    server = processing(config(hook))
    answers = iter([(200, {"outcome": "retry", "reason": "busy"}), (200, {"outcome": "reject", "reason": "not a cat"})])
    hook.answer = lambda document: next(answers)
    with server.http() as http:
        answer = http.post("/object/hooked/cat.jpg", content=b"dog", headers={**SERVICE, "content-type": "text/plain"})
        assert answer.status_code == 422, answer.text
        assert answer.json()["message"] == "webhook: not a cat"
    assert len(hook.requests) == 2


def test_a_wait_shorter_than_the_steps_answers_202(processing, hook):
    server = processing(config(hook), PROCESSING_WAIT_MS="300")
    hook.answer = lambda document: None
    with server.http() as http:
        answer = http.post("/object/hooked/slow.txt", content=b"slow", headers={**SERVICE, "content-type": "text/plain"})
        assert answer.status_code == 202
        hook.release.set()


def test_clamd_down_is_retried_then_the_rule_decides(processing):
    document = config(clamav=f"127.0.0.1:{closed_port()}")
    document["buckets"]["open-fail"] = {"steps": ["clamav"], "on_error": "pass", "max_attempts": 2, "retry_backoff_ms": 100}
    server = processing(document)
    with server.http() as http:
        answer = http.post("/object/closed-fail/x.txt", content=b"x", headers={**SERVICE, "content-type": "text/plain"})
        assert answer.status_code == 422
        assert answer.json()["message"].startswith("clamav: could not finish after 3 attempts: clamd at 127.0.0.1:")
        http.post("/bucket", json={"name": "open-fail"}, headers=SERVICE)
        answer = http.post("/object/open-fail/y.txt", content=b"y", headers={**SERVICE, "content-type": "text/plain"})
        assert answer.status_code == 200, answer.text
        status = http.get("/object/status/open-fail/y.txt", headers=SERVICE).json()
        assert status["steps"][0]["detail"].startswith("skipped after 2 attempts")
    failed = server.sql("select count(*) from storage_api.processing_jobs where state = 'rejected'")[0][0]
    assert failed == 1


def test_a_replica_killed_mid_pipeline_leaves_the_job_to_another(processing, hook):
    first = processing(config(hook))
    hook.answer = lambda document: None
    with first.http() as http:
        answer = http.post("/object/hooked/orphan.txt", content=b"orphan", headers={**SERVICE, "Prefer": "respond-async"})
        assert answer.status_code == 202
    deadline = time.time() + 10
    while not hook.requests and time.time() < deadline:
        time.sleep(0.05)
    assert hook.requests, "the first replica never ran the hook"
    second = processing(config(hook))
    first.stop(signal.SIGKILL)
    hook.answer = lambda document: (200, {"outcome": "continue"})
    with second.http() as http:
        deadline = time.time() + 20
        while http.get("/object/status/hooked/orphan.txt", headers=SERVICE).json()["state"] == "pending" and time.time() < deadline:
            time.sleep(0.1)
        assert http.get("/object/status/hooked/orphan.txt", headers=SERVICE).json()["state"] == "ready"
        assert http.get("/object/hooked/orphan.txt", headers=SERVICE).content == b"orphan"
    # Steps are idempotent: the hook saw the version again from the second replica.
    assert len(hook.requests) >= 2
    assert events(second, "hooked", "orphan.txt") == ["ObjectCreated:Post"]


def delivering(tmp_path, archive_bucket):
    """`shipped` hashes its versions and delivers them to a directory and to an S3 bucket (a
    second bucket on the test SeaweedFS), both at content-addressed paths."""
    document = config()
    document["targets"] = {
        "disk": {"type": "file", "path": str(tmp_path / "copies"), "prefix": "{bucket}/{sha256}"},
        "archive": {"type": "s3", "endpoint": os.environ["TEST_S3_ENDPOINT"], "bucket": archive_bucket,
                    "prefix": "cas/{sha256}", "access_key_env": "ARCHIVE_KEY", "secret_key_env": "ARCHIVE_SECRET"},
    }
    document["buckets"]["shipped"] = {"steps": ["sha256"], "deliver_to": ["disk", "archive"], "max_attempts": 20,
                                      "retry_backoff_ms": 200}
    return document, {"ARCHIVE_KEY": os.environ["TEST_S3_ACCESS_KEY"], "ARCHIVE_SECRET": os.environ["TEST_S3_SECRET_KEY"]}


def wait_for_deliveries(http, name, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = http.get(f"/object/status/shipped/{name}", headers=SERVICE).json()
        if status["deliveries"] and all(d["state"] != "pending" for d in status["deliveries"]):
            return status
        time.sleep(0.1)
    raise AssertionError(f"deliveries still pending: {status}")


def test_ready_versions_are_delivered_byte_exact_at_their_hash_paths(processing, tmp_path):
    s3 = s3_client()
    archive = f"archive-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=archive)
    document, env = delivering(tmp_path, archive)
    server = processing(document, **env)
    body = os.urandom(6 * 1024 * 1024 + 3)
    digest = hashlib.sha256(body).hexdigest()
    with server.http() as http:
        assert http.post("/object/shipped/big.bin", content=body, headers=SERVICE).status_code == 200
        status = wait_for_deliveries(http, "big.bin")
        assert sorted((d["target"], d["state"], d["attempts"]) for d in status["deliveries"]) == [
            ("archive", "delivered", 1), ("disk", "delivered", 1)]
    assert (tmp_path / "copies" / "shipped" / digest).read_bytes() == body
    assert s3.get_object(Bucket=archive, Key=f"cas/{digest}")["Body"].read() == body
    # Nothing half-written beside the copies.
    assert [p.name for p in (tmp_path / "copies").rglob("*") if p.is_file()] == [digest]
    deadline = time.time() + 5
    while events(server, "shipped", "big.bin").count("ObjectDelivered") < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert events(server, "shipped", "big.bin") == ["ObjectCreated:Post", "ObjectDelivered", "ObjectDelivered"]
    targets = server.sql("select event->'payload'->>'target', event->'payload'->>'path' from storage_api.events "
                         "where type = 'ObjectDelivered' order by 1")
    assert targets == [("archive", f"cas/{digest}"), ("disk", f"shipped/{digest}")]


def test_a_target_that_fails_is_retried_until_it_takes_the_copy(processing, tmp_path):
    s3 = s3_client()
    archive = f"archive-{uuid.uuid4().hex[:10]}"
    document, env = delivering(tmp_path, archive)
    server = processing(document, **env)
    with server.http() as http:
        # The archive bucket does not exist yet: its copies fail and are retried.
        assert http.post("/object/shipped/late.txt", content=b"late", headers=SERVICE).status_code == 200
        deadline = time.time() + 10
        while time.time() < deadline:
            rows = server.sql("select attempts, last_error from storage_api.processing_deliveries where target = 'archive'")
            if rows and rows[0][0] >= 2:
                break
            time.sleep(0.1)
        assert rows[0][0] >= 2 and rows[0][1], rows
        s3.create_bucket(Bucket=archive)
        status = wait_for_deliveries(http, "late.txt")
        assert {d["target"]: d["state"] for d in status["deliveries"]} == {"archive": "delivered", "disk": "delivered"}
    digest = hashlib.sha256(b"late").hexdigest()
    assert s3.get_object(Bucket=archive, Key=f"cas/{digest}")["Body"].read() == b"late"
    assert events(server, "shipped", "late.txt").count("ObjectDelivered") == 2


@pytest.mark.parametrize("document, message", [
    ({"buckets": {"b": {"steps": ["clamscan"]}}},
     'configuration error: PROCESSING_CONFIG buckets.b.steps[0]: unknown step "clamscan"'),
    ({"buckets": {"b": {"deliver_to": ["nowhere"]}}},
     'configuration error: PROCESSING_CONFIG buckets.b.deliver_to[0]: no target named "nowhere"'),
])
def test_a_bad_configuration_stops_start_up_naming_the_entry(tmp_path, document, message):
    path = tmp_path / "processing.json"
    path.write_text(json.dumps(document))
    with scratch_database("compat_processing") as database:
        server = Server(os.environ["STORAGE_API_BINARY"], database, tmp_path / "storage", tmp_path / "server.log",
                        extra_env={"PROCESSING_CONFIG": str(path)})
        with pytest.raises(RuntimeError) as failure:
            server.start()
    assert message in str(failure.value)


def test_s3_uploads_are_processed_like_any_other(processing):
    from botocore.exceptions import ClientError
    from helpers_s3 import protocol_client

    server = processing(config())
    s3 = protocol_client(server)
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket="scan", Key="s3.txt", Body=EICAR, ContentType="text/plain")
    assert excinfo.value.response["Error"]["Code"] == "ObjectRejected"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 422
    upload_id = s3.create_multipart_upload(Bucket="scan", Key="s3-mp.txt", ContentType="text/plain")["UploadId"]
    etag = s3.upload_part(Bucket="scan", Key="s3-mp.txt", UploadId=upload_id, PartNumber=1, Body=EICAR)["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.complete_multipart_upload(Bucket="scan", Key="s3-mp.txt", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert excinfo.value.response["Error"]["Code"] == "ObjectRejected"
    with server.http() as http:
        assert_unreadable(server, http, "scan", "s3.txt")
        assert_unreadable(server, http, "scan", "s3-mp.txt")
    # A clean file goes through and is readable at once.
    s3.put_object(Bucket="scan", Key="clean.txt", Body=b"clean text", ContentType="text/plain")
    assert s3.get_object(Bucket="scan", Key="clean.txt")["Body"].read() == b"clean text"
