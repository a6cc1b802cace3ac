"""Events and webhooks (docs/contract.md §12.2): every committed change writes its event in the
same transaction; replicas deliver each event with a stable id, in commit order per key, with
retries; refused or rolled-back changes write none. The receiver is a real HTTP server."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook
from tusclient import client as tus_client

from conftest import ANON_KEY, MODE, SERVICE_KEY, Server, scratch_database

SIGNING_SECRET = "whsec_" + base64.b64encode(b"compat-webhook-signing-key-32byt").decode()
API_KEY = "compat-webhook-api-key"
SERVICE = {"Authorization": f"Bearer {SERVICE_KEY}"}


class Receiver:
    """A webhook receiver: records every request it read; `answer(request)` decides the status
    (or None: hang until released, then close unanswered). `acknowledged` lists the ids it
    answered 2xx to."""

    def __init__(self):
        self.requests = []
        self.acknowledged = []
        self.lock = threading.Lock()
        self.in_flight = {}
        self.max_in_flight_per_key = 0
        self.answer = lambda request: 200
        self.release = threading.Event()
        self.server = None
        self.port = None
        self.start()

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                           "json": json.loads(body)}
                payload = request["json"]["event"]["payload"]
                key = f"{payload.get('bucketId')}/{payload.get('name')}"
                with receiver.lock:
                    receiver.requests.append(request)
                    receiver.in_flight[key] = receiver.in_flight.get(key, 0) + 1
                    receiver.max_in_flight_per_key = max(receiver.max_in_flight_per_key, receiver.in_flight[key])
                counted = True
                try:
                    status = receiver.answer(request)
                    if status is None:
                        # Hang, then drop the connection unanswered: this attempt is never acknowledged.
                        receiver.release.wait(30)
                        self.close_connection = True
                        return
                    # The request stops being in flight before its answer leaves: once the sender
                    # has the answer it may send the key's next event, possibly before this thread
                    # runs again.
                    with receiver.lock:
                        receiver.in_flight[key] -= 1
                        counted = False
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    if 200 <= status < 300:
                        with receiver.lock:
                            receiver.acknowledged.append(request["headers"]["webhook-id"])
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    if counted:
                        with receiver.lock:
                            receiver.in_flight[key] -= 1

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port or 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self):
        with self.lock:
            return [r["json"]["event"] for r in self.requests]

    def wait_for(self, count, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(set(self.acknowledged)) >= count:
                    return
            time.sleep(0.05)
        raise AssertionError(f"{len(set(self.acknowledged))} of {count} events arrived")


@pytest.fixture
def receiver():
    instance = Receiver()
    yield instance
    instance.release.set()
    instance.stop()


@pytest.fixture
def database():
    with scratch_database("compat_events") as url:
        yield url


@pytest.fixture
def replicas(database, tmp_path, receiver):
    """Starts servers on one database and one backend, delivering to the receiver."""
    started = []

    def start(**extra):
        env = {"WEBHOOK_URL": receiver.url, "WEBHOOK_API_KEY": API_KEY, "WEBHOOK_SIGNING_SECRET": SIGNING_SECRET,
               "WEBHOOK_BACKOFF_MS": "100", "WEBHOOK_TIMEOUT_MS": "1000", **extra}
        server = Server(os.environ["STORAGE_API_BINARY"], database, tmp_path / "storage",
                        tmp_path / f"server-{len(started)}.log", extra_env=env)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(signal.SIGKILL)


def rows(database, sql, *args):
    with psycopg.connect(database, autocommit=True) as connection:
        return connection.execute(sql, args).fetchall()


def stored_events(database):
    return rows(database, "select id::text, type, bucket_id, name, status, attempts from storage_api.events order by seq")


def settled_events(database, timeout=15):
    """The events once none is pending any more (a batch's deliveries are recorded together, a
    moment after the receiver saw the last of them), or as they are after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        events = stored_events(database)
        if all(status != "pending" for *_, status, _ in events) or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def verify_signature(request):
    headers = request["headers"]
    # The reference library first (raises when the signature or the timestamp is off)...
    Webhook(SIGNING_SECRET).verify(request["body"], {k: headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")})
    # ...and the HMAC by hand, so a library that accepted anything could not hide a wrong one.
    key = base64.b64decode(SIGNING_SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request["body"]
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return headers["webhook-signature"] == expected


def test_every_change_sends_its_event_once_with_upstreams_payload(replicas, receiver, database):
    server = replicas()
    with server.http() as http:
        assert http.post("/bucket", json={"name": "ev", "public": False}, headers=SERVICE).status_code == 200
        rid = "req-" + uuid.uuid4().hex
        assert http.post("/object/ev/a.txt", content=b"one", headers={**SERVICE, "X-Request-Id": rid}).status_code == 200
        assert http.put("/object/ev/a.txt", content=b"two", headers=SERVICE).status_code == 200
        assert http.post("/object/ev/b.txt", content=b"bee", headers={**SERVICE, "x-upsert": "true"}).status_code == 200
        assert http.post("/object/ev/b.txt", content=b"bee2", headers={**SERVICE, "x-upsert": "true"}).status_code == 200
        token = http.post("/object/upload/sign/ev/signed.txt", headers=SERVICE).json()["url"].split("token=")[1]
        assert http.put(f"/object/upload/sign/ev/signed.txt?token={token}", content=b"signed").status_code == 200
        assert http.post("/object/copy", json={"bucketId": "ev", "sourceKey": "a.txt", "destinationKey": "c.txt"},
                         headers=SERVICE).status_code == 200
        assert http.post("/object/move", json={"bucketId": "ev", "sourceKey": "c.txt", "destinationKey": "d.txt"},
                         headers=SERVICE).status_code == 200
        assert http.delete("/object/ev/d.txt", headers=SERVICE).status_code == 200
        assert http.request("DELETE", "/object/ev", json={"prefixes": ["b.txt", "signed.txt"]},
                            headers=SERVICE).status_code == 200
    uploader = tus_client.TusClient(f"{server.url}/upload/resumable", headers=SERVICE)
    uploader.uploader(file_stream=__import__("io").BytesIO(b"resumable bytes"), chunk_size=1 << 20,
                      metadata={"bucketName": "ev", "objectName": "t.txt", "contentType": "text/plain"}).upload()
    with server.http() as http:
        assert http.post("/bucket/ev/empty", headers=SERVICE).status_code == 200
        assert http.delete("/bucket/ev", headers=SERVICE).status_code == 200

    expected = [
        ("BucketCreated", None), ("ObjectCreated:Post", "a.txt"), ("ObjectCreated:Put", "a.txt"),
        ("ObjectCreated:Post", "b.txt"), ("ObjectCreated:Put", "b.txt"), ("ObjectCreated:Post", "signed.txt"),
        ("ObjectCreated:Copy", "c.txt"), ("ObjectRemoved:Move", "c.txt"), ("ObjectCreated:Move", "d.txt"),
        ("ObjectRemoved:Delete", "d.txt"), ("ObjectRemoved:Delete", "b.txt"), ("ObjectRemoved:Delete", "signed.txt"),
        ("ObjectCreated:Post", "t.txt"), ("ObjectRemoved:Delete", "a.txt"), ("ObjectRemoved:Delete", "t.txt"),
        ("BucketDeleted", None),
    ]
    receiver.wait_for(len(expected))
    in_db = settled_events(database)
    assert [(t, n) for _, t, _, n, _, _ in in_db] == expected
    assert all(status == "delivered" and attempts == 1 for *_, status, attempts in in_db), in_db
    # Exactly once each, every header and body field as documented.
    assert sorted(receiver.acknowledged) == sorted(i for i, *_ in in_db)
    by_id = {r["headers"]["webhook-id"]: r for r in receiver.requests}
    for event_id, kind, bucket, name, _, _ in in_db:
        request = by_id[event_id]
        body, headers = request["json"], request["headers"]
        assert headers["authorization"] == f"Bearer {API_KEY}"
        assert headers["content-type"] == "application/json"
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 120
        assert verify_signature(request), headers
        assert body["type"] == "Webhook" and body["tenant"]["ref"]
        assert body["sentAt"].endswith("Z")
        event = body["event"]
        assert event["$version"] == "v1" and event["type"] == kind and isinstance(event["applyTime"], int)
        assert event["region"]
        assert event["payload"]["bucketId"] == bucket
        assert event["payload"].get("name") == name
        assert event["payload"]["tenant"]["ref"] == body["tenant"]["ref"]
    events = [by_id[i]["json"]["event"]["payload"] for i, *_ in in_db]
    assert events[1]["reqId"] == rid
    assert events[1]["uploadType"] == "standard" and events[1]["metadata"]["size"] == 3
    assert events[2]["metadata"]["size"] == 3 and events[2]["version"] != events[1]["version"]
    assert events[5]["uploadType"] == "standard"
    assert events[12]["uploadType"] == "resumable" and events[12]["metadata"]["size"] == len(b"resumable bytes")
    assert events[8]["oldObject"] == {"name": "c.txt", "bucketId": "ev", "version": events[7]["version"],
                                      "reqId": events[8]["reqId"]}
    assert events[9]["version"] == events[8]["version"]
    assert receiver.max_in_flight_per_key == 1
    metrics = httpx.get(f"{server.url}/metrics").text
    delivered = [line for line in metrics.splitlines() if line.startswith("storage_events_delivered_total")]
    assert delivered and float(delivered[0].split()[-1]) == len(expected), delivered
    assert 'storage_event_delivery_attempts_total{outcome="acknowledged"}' in metrics
    assert "storage_event_delivery_latency_seconds" in metrics


def test_refused_and_rolled_back_changes_write_no_event(replicas, receiver, database):
    server = replicas(UPLOAD_FILE_SIZE_LIMIT="10")
    with server.http() as http:
        assert http.post("/bucket", json={"name": "strict", "allowed_mime_types": ["text/plain"]},
                         headers=SERVICE).status_code == 200
        assert http.post("/object/strict/a.txt", content=b"x", headers={**SERVICE, "content-type": "text/plain"}).status_code == 200
        receiver.wait_for(2)
        before = len(stored_events(database))
        refused = [
            http.post("/object/strict/big.txt", content=b"x" * 11, headers={**SERVICE, "content-type": "text/plain"}),
            http.post("/object/strict/a.png", content=b"x", headers={**SERVICE, "content-type": "image/png"}),
            http.post("/object/strict/a.txt", content=b"y", headers={**SERVICE, "content-type": "text/plain"}),
            http.post("/object/strict/anon.txt", content=b"x", headers={"Authorization": f"Bearer {ANON_KEY}"}),
            http.post("/object/missing/a.txt", content=b"x", headers=SERVICE),
            http.delete("/object/strict/nothing.txt", headers=SERVICE),
            http.delete("/bucket/strict", headers=SERVICE),
            http.post("/bucket", json={"name": "strict"}, headers=SERVICE),
            http.post("/object/move", json={"bucketId": "strict", "sourceKey": "nope", "destinationKey": "b"},
                      headers=SERVICE),
        ]
        assert all(r.status_code >= 400 for r in refused), [(r.status_code, r.text) for r in refused]
    time.sleep(0.5)
    assert len(stored_events(database)) == before
    assert len(receiver.requests) == 2


def test_retries_keep_the_webhook_id_and_the_last_attempt_fails(replicas, receiver, database):
    seen = {}

    def flaky(request):
        event_id = request["headers"]["webhook-id"]
        seen[event_id] = seen.get(event_id, 0) + 1
        name = request["json"]["event"]["payload"].get("name")
        if name == "never.txt":
            return 503
        return 500 if seen[event_id] < 3 else 204

    receiver.answer = flaky
    server = replicas(WEBHOOK_MAX_ATTEMPTS="4")
    with server.http() as http:
        assert http.post("/bucket", json={"name": "retry"}, headers=SERVICE).status_code == 200
        assert http.post("/object/retry/ok.txt", content=b"x", headers=SERVICE).status_code == 200
        assert http.post("/object/retry/never.txt", content=b"x", headers=SERVICE).status_code == 200
        receiver.wait_for(2)
        deadline = time.time() + 20
        while time.time() < deadline and not any(s == "failed" for *_, s, _ in stored_events(database)):
            time.sleep(0.1)
        events = {name: (i, status, attempts) for i, _, _, name, status, attempts in stored_events(database)}
        assert events["ok.txt"][1:] == ("delivered", 3)
        assert events["never.txt"][1:] == ("failed", 4)
        assert seen[events["ok.txt"][0]] == 3 and seen[events["never.txt"][0]] == 4
        # The same id on every attempt.
        ids = [r["headers"]["webhook-id"] for r in receiver.requests if r["json"]["event"]["payload"].get("name") == "never.txt"]
        assert ids == [events["never.txt"][0]] * 4

        listed = http.get("/events", params={"status": "failed"}, headers=SERVICE)
        assert listed.status_code == 200, listed.text
        [failed] = listed.json()
        assert failed["id"] == events["never.txt"][0] and failed["status"] == "failed" and failed["attempts"] == 4
        assert failed["type"] == "ObjectCreated:Post" and failed["bucketId"] == "retry" and failed["name"] == "never.txt"
        assert "503" in failed["lastError"] and failed["deliveredAt"] is None and failed["createdAt"]
        everything = http.get("/events", headers=SERVICE).json()
        assert [e["id"] for e in everything] == [i for i, *_ in stored_events(database)]
        after = http.get("/events", params={"after": everything[0]["id"], "limit": 1}, headers=SERVICE).json()
        assert [e["id"] for e in after] == [everything[1]["id"]]
        assert http.get("/events", headers={"Authorization": f"Bearer {ANON_KEY}"}).status_code == 403
        assert http.post(f"/events/{failed['id']}/retry", headers={"Authorization": f"Bearer {ANON_KEY}"}).status_code == 403
        assert http.post(f"/events/{everything[0]['id']}/retry", headers=SERVICE).status_code == 400
        assert http.post(f"/events/{uuid.uuid4()}/retry", headers=SERVICE).status_code == 404
        assert http.get("/events", params={"status": "lost"}, headers=SERVICE).status_code == 400

        receiver.answer = lambda request: 200
        assert http.post(f"/events/{failed['id']}/retry", headers=SERVICE).status_code == 200
        deadline = time.time() + 10
        while time.time() < deadline and stored_events(database)[-1][4] != "delivered":
            time.sleep(0.1)
        assert stored_events(database)[-1][4:] == ("delivered", 1)
    # A delivering replica stops cleanly on SIGTERM (the deliverer and its listener end).
    assert server.stop() == 0, server.log_tail()


def test_a_receiver_that_was_down_gets_everything_afterwards(replicas, receiver, database):
    receiver.stop()
    server = replicas()
    with server.http() as http:
        assert http.post("/bucket", json={"name": "down"}, headers=SERVICE).status_code == 200
        for index in range(10):
            assert http.post(f"/object/down/{index}.txt", content=b"x", headers=SERVICE).status_code == 200
    time.sleep(1.5)
    assert len(receiver.requests) == 0
    assert all(status == "pending" for *_, status, _ in stored_events(database))
    receiver.start()
    receiver.wait_for(11, timeout=60)
    settled_events(database)
    assert sorted(set(receiver.acknowledged)) == sorted(i for i, *_ in stored_events(database))
    # An attempt the receiver handled but whose answer did not come back in time (its restart)
    # is sent again: with the same id, so a receiver that deduplicates on it counts each once.
    in_db = stored_events(database)
    assert all(status == "delivered" for *_, status, _ in in_db), in_db
    repeats = len(receiver.acknowledged) - len(set(receiver.acknowledged))
    print(f"receiver down: {len(in_db)} events, {len(receiver.requests)} requests, {repeats} repeated ids")
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {i for i, *_ in in_db}


@pytest.mark.parametrize("count", [2, 3])
def test_replicas_deliver_together_without_duplicates(replicas, receiver, database, count):
    servers = [replicas() for _ in range(count)]
    with servers[0].http() as http:
        assert http.post("/bucket", json={"name": "many"}, headers=SERVICE).status_code == 200

    def change(index):
        server = servers[index % count]
        with server.http() as http:
            name = f"k{index % 20}.txt"
            assert http.post(f"/object/many/{name}", content=str(index).encode(),
                             headers={**SERVICE, "x-upsert": "true"}).status_code == 200

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(change, range(240)))
    receiver.wait_for(241, timeout=90)
    # A second more for any repeat to arrive, so a duplicate could not hide behind the check.
    time.sleep(1.0)
    in_db = settled_events(database)
    acknowledged = receiver.acknowledged
    duplicates = len(acknowledged) - len(set(acknowledged))
    lost = len({i for i, *_ in in_db} - set(acknowledged))
    print(f"{count} replicas: {len(in_db)} events, {duplicates} duplicates, {lost} lost")
    assert (duplicates, lost) == (0, 0)
    assert receiver.max_in_flight_per_key == 1
    # Per key, events arrive in commit order: the order of the outbox, and the last one is the
    # version the row holds now.
    seq = {i: n for n, (i, *_) in enumerate(in_db)}
    arrival = {}
    for event in receiver.events():
        payload = event["payload"]
        if "name" in payload:
            arrival.setdefault(payload["name"], []).append(payload["version"])
    current = dict(rows(database, "select name, version from storage.objects where bucket_id = 'many'"))
    order = {}
    for r in receiver.requests:
        payload = r["json"]["event"]["payload"]
        if "name" in payload:
            order.setdefault(payload["name"], []).append(seq[r["headers"]["webhook-id"]])
    for name, positions in order.items():
        assert positions == sorted(positions), name
        assert arrival[name][-1] == current[name], name


def test_a_replica_killed_mid_delivery_leaves_the_event_to_another(replicas, receiver, database):
    hung = threading.Event()

    def hang_first(request):
        if not hung.is_set():
            hung.set()
            return None
        return 200

    receiver.answer = hang_first
    first = replicas()
    with first.http() as http:
        assert http.post("/bucket", json={"name": "kill"}, headers=SERVICE).status_code == 200
    assert hung.wait(10)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    receiver.release.set()
    second = replicas()
    receiver.wait_for(1, timeout=30)
    with second.http() as http:
        assert http.post("/object/kill/after.txt", content=b"x", headers=SERVICE).status_code == 200
    receiver.wait_for(2, timeout=30)
    in_db = settled_events(database)
    assert [(t, s) for _, t, _, _, s, _ in in_db] == [("BucketCreated", "delivered"), ("ObjectCreated:Post", "delivered")]
    # The killed replica's attempt reached the receiver but was never acknowledged to it; the
    # second replica sent it again with the same id, and it was acknowledged once.
    first_id = in_db[0][0]
    assert [r["headers"]["webhook-id"] for r in receiver.requests].count(first_id) == 2
    assert receiver.acknowledged.count(first_id) == 1
    assert len(receiver.acknowledged) == len(set(receiver.acknowledged)) == 2


def test_events_are_recorded_without_a_webhook_url(database, tmp_path):
    server = Server(os.environ["STORAGE_API_BINARY"], database, tmp_path / "storage", tmp_path / "server.log")
    server.start()
    try:
        with server.http() as http:
            assert http.post("/bucket", json={"name": "quiet"}, headers=SERVICE).status_code == 200
            assert http.post("/object/quiet/a.txt", content=b"x", headers=SERVICE).status_code == 200
        time.sleep(1.5)
        assert [(t, s, a) for _, t, _, _, s, a in stored_events(database)] == [
            ("BucketCreated", "pending", 0), ("ObjectCreated:Post", "pending", 0)]
    finally:
        server.stop()
