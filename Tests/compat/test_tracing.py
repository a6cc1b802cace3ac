"""OpenTelemetry tracing (`TRACING_ENABLED`; contract §12.7): spans go over OTLP/HTTP to a
collector in this file, decoded with the OpenTelemetry protocol's own Python classes
(`opentelemetry-proto`). Each request is one trace: a server span (a child of the caller's when
it sends a W3C `traceparent`) with its database transactions, S3 calls (self-hosted mode),
renders and TUS chunks nested under it, every span tagged with the request id. Event deliveries
and processing jobs are traces of their own, and a webhook receiver gets `traceparent` too."""

import http.server
import io
import json
import os
import secrets
import threading
import time
import uuid

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                       ExportTraceServiceResponse)
from PIL import Image
from tusclient import client as tus_client

from conftest import MODE, lone_server, service_headers

SERVER, CLIENT, PRODUCER = 2, 3, 4  # opentelemetry.proto.trace.v1.Span.SpanKind


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Collector:
    """An OTLP/HTTP endpoint (`/v1/traces`, protobuf) that keeps every span it is sent, and a
    webhook receiver (`/hook`) that keeps the `traceparent` of each delivery."""

    def __init__(self):
        self.spans = []
        self.resources = []
        self.hooks = []
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.path == "/v1/traces":
                    assert self.headers["content-type"] == "application/x-protobuf"
                    request = ExportTraceServiceRequest.FromString(body)
                    with collector.lock:
                        for resource_spans in request.resource_spans:
                            collector.resources.append(
                                {a.key: value(a.value) for a in resource_spans.resource.attributes})
                            for scope in resource_spans.scope_spans:
                                collector.spans.extend(Span(s) for s in scope.spans)
                    answer = ExportTraceServiceResponse().SerializeToString()
                    content_type = "application/x-protobuf"
                else:
                    with collector.lock:
                        collector.hooks.append({"traceparent": self.headers.get("traceparent"),
                                                "event": json.loads(body)["event"]})
                    answer, content_type = b"", "text/plain"
                self.send_response(200)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def wait(self, predicate, timeout=20):
        """The spans once `predicate(spans)` holds; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                spans = list(self.spans)
            if predicate(spans):
                return spans
            assert time.monotonic() < deadline, f"spans never matched; got {[str(s) for s in spans]}"
            time.sleep(0.05)

    def trace_of(self, request_id, settled=lambda trace: True):
        """Every span of the trace whose server span carries `request_id`, once that span (it ends
        last, after the body) and `settled(trace)` are in."""
        def spans_of(spans):
            roots = [s for s in spans if s.kind == SERVER and s.attributes.get("request_id") == request_id]
            if len(roots) != 1:
                return None
            return [s for s in spans if s.trace_id == roots[0].trace_id]

        return spans_of(self.wait(lambda spans: (trace := spans_of(spans)) is not None and settled(trace)))


class Span:
    def __init__(self, proto):
        self.trace_id = proto.trace_id.hex()
        self.span_id = proto.span_id.hex()
        self.parent = proto.parent_span_id.hex()
        self.name = proto.name
        self.kind = proto.kind
        self.attributes = {a.key: value(a.value) for a in proto.attributes}
        self.error = proto.status.code == 2
        self.start, self.end = proto.start_time_unix_nano, proto.end_time_unix_nano

    def __str__(self):
        return f"{self.name}[{self.span_id} < {self.parent or '-'}]"


def children(trace, parent):
    return [s for s in trace if s.parent == parent.span_id]


def server_span(trace):
    [root] = [s for s in trace if s.kind == SERVER]
    return root


@pytest.fixture(scope="module")
def collector():
    instance = Collector()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def traced(tmp_path_factory, collector):
    base = tmp_path_factory.mktemp("tracing")
    config = base / "processing.json"
    config.write_text(json.dumps({"buckets": {"checked": {"steps": ["sniff-mime", "sha256"]}}}))
    env = {"TRACING_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "50",
           "WEBHOOK_URL": f"{collector.url}/hook", "PROCESSING_CONFIG": str(config)}
    with lone_server(base, "compat_tracing", env) as instance:
        with instance.http() as http:
            for name in ("traced", "checked"):
                assert http.post("/bucket", json={"name": name}, headers=service_headers()).status_code == 200
        yield instance


def png(size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def test_an_upload_is_one_trace_under_the_callers_span(traced, collector):
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    name = f"up/{uuid.uuid4().hex}.bin"
    response = httpx.post(f"{traced.url}/object/traced/{name}", content=os.urandom(4096),
                          headers=service_headers(traceparent=f"00-{trace_id}-{parent}-01"))
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    trace = collector.trace_of(request_id)
    root = server_span(trace)
    # The caller's trace, under the caller's span.
    assert (root.trace_id, root.parent) == (trace_id, parent)
    assert root.name == "POST /object/{bucket}/**" and root.attributes["http.route"] == "/object/{bucket}/**"
    assert root.attributes["http.response.status_code"] == 200
    assert root.attributes["http.request.method"] == "POST"
    assert root.attributes["url.path"].endswith(f"/object/traced/{name}")
    # Its work is nested under it, each span tagged with the same request id.
    transactions = [s for s in children(trace, root) if s.name == "db.transaction"]
    assert transactions, [str(s) for s in trace]
    assert all(s.kind == CLIENT and s.attributes["db.system"] == "postgresql" for s in transactions)
    assert {s.attributes.get("db.role") for s in transactions} >= {"service_role"}
    puts = [s for s in trace if s.name == "s3.PutObject"]
    if MODE == "file":
        assert puts == []
    else:
        assert len(puts) == 1 and puts[0].parent == root.span_id
        assert f"/traced/{name}/" in puts[0].attributes["s3.key"] and puts[0].attributes["http.response.status_code"] == 200
    assert all(s.attributes.get("request_id") == request_id for s in trace), [str(s) for s in trace]
    assert all(root.start <= s.start and s.end <= root.end for s in trace)
    resource = collector.resources[-1]
    assert resource["service.name"] == "storage-api"


def test_each_request_without_a_parent_is_a_trace_of_its_own(traced, collector):
    ids = []
    for _ in range(2):
        response = httpx.get(f"{traced.url}/bucket/traced", headers=service_headers())
        assert response.status_code == 200
        ids.append(response.headers["x-request-id"])
    # A malformed traceparent (or one of all zeros, which W3C says to ignore) starts a trace too.
    for bad in ("00-zz-11-01", "00-" + "0" * 32 + "-" + "0" * 16 + "-01", "x" * 300):
        response = httpx.get(f"{traced.url}/bucket/traced", headers=service_headers(traceparent=bad))
        assert response.status_code == 200
        ids.append(response.headers["x-request-id"])
    roots = [server_span(collector.trace_of(i)) for i in ids]
    assert len({root.trace_id for root in roots}) == len(roots)
    assert all(root.parent == "" and root.trace_id != "0" * 32 for root in roots)
    first, second = roots[:2]
    assert first.name == second.name == "GET /bucket/{bucketId}", first.name


def test_errors_and_signed_urls(traced, collector):
    # A refused request is traced with its status; a signed URL's token stays out of the span.
    missing = httpx.get(f"{traced.url}/object/traced/missing-{uuid.uuid4().hex}", headers=service_headers())
    assert missing.status_code == 400
    root = server_span(collector.trace_of(missing.headers["x-request-id"]))
    assert root.attributes["http.response.status_code"] == 400 and not root.error
    name = f"signed/{uuid.uuid4().hex}.txt"
    assert httpx.post(f"{traced.url}/object/traced/{name}", content=b"signed",
                      headers=service_headers()).status_code == 200
    signed = httpx.post(f"{traced.url}/object/sign/traced/{name}", json={"expiresIn": 60}, headers=service_headers())
    url = signed.json()["signedURL"]
    token = url.split("token=")[1]
    download = httpx.get(f"{traced.url}{url}")
    assert download.content == b"signed"
    trace = collector.trace_of(download.headers["x-request-id"])
    assert all(token not in str(v) for s in trace for v in s.attributes.values())


def test_a_render_has_its_span(traced, collector):
    name = f"img/{uuid.uuid4().hex}.png"
    assert httpx.post(f"{traced.url}/object/traced/{name}", content=png(),
                      headers=service_headers(**{"content-type": "image/png"})).status_code == 200
    response = httpx.get(f"{traced.url}/render/image/authenticated/traced/{name}",
                         params={"width": 16, "format": "webp"}, headers=service_headers())
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
    trace = collector.trace_of(response.headers["x-request-id"],
                               settled=lambda t: any(s.name == "image.render" for s in t))
    root = server_span(trace)
    [render] = [s for s in trace if s.name == "image.render"]
    assert render.parent == root.span_id
    assert (render.attributes["image.format"], render.attributes["image.width"]) == ("image/webp", 16)
    if MODE != "file":
        # The source is read (under the render span) and the variant stored.
        assert any(s.name == "s3.GetObject" and s.parent == render.span_id for s in trace), [str(s) for s in trace]
        assert any(s.name == "s3.PutObject" for s in trace)


def test_tus_chunks_have_their_spans(traced, collector):
    data = os.urandom(300_000)
    client = tus_client.TusClient(f"{traced.url}/upload/resumable", headers=service_headers())
    uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=100_000,
                               metadata={"bucketName": "traced", "objectName": f"tus/{uuid.uuid4().hex}.bin",
                                         "contentType": "application/octet-stream"})
    uploader.upload()
    def complete(spans):
        # Each chunk's server span too: it ends after its answer is written, maybe in a later batch.
        chunks = [s for s in spans if s.name == "tus.chunk"]
        served = {s.span_id for s in spans if s.kind == SERVER}
        return len(chunks) >= 3 and all(c.parent in served for c in chunks)

    spans = collector.wait(complete)
    chunks = sorted((s for s in spans if s.name == "tus.chunk"), key=lambda s: s.start)[-3:]
    assert [c.attributes["tus.offset"] for c in chunks] == [0, 100_000, 200_000]
    assert [c.attributes["tus.new_offset"] for c in chunks] == [100_000, 200_000, 300_000]
    for chunk in chunks:
        trace = [s for s in spans if s.trace_id == chunk.trace_id]
        root = server_span(trace)
        assert root.name.startswith("PATCH ") and chunk.parent == root.span_id
        # The chunk's transactions (its lease, its record) are nested under it.
        assert any(s.name == "db.transaction" and s.parent == chunk.span_id for s in trace)
        assert chunk.attributes["request_id"] == root.attributes["request_id"]


def test_event_deliveries_are_traced_and_propagated(traced, collector):
    name = f"events/{uuid.uuid4().hex}.txt"
    response = httpx.post(f"{traced.url}/object/traced/{name}", content=b"event", headers=service_headers())
    assert response.status_code == 200

    def delivered(spans):
        return [s for s in spans if s.name == "webhook.deliver"
                and any(h["event"]["payload"].get("name") == name and h["event"]["type"] == s.attributes["event.type"]
                        and h["traceparent"] and h["traceparent"].split("-")[1] == s.trace_id for h in collector.hooks)]

    [span] = delivered(collector.wait(lambda spans: delivered(spans)))
    assert span.kind == PRODUCER and span.parent == "" and not span.error
    # The upload that caused it is named, as the upload's own trace names itself.
    assert span.attributes["event.request_id"] == response.headers["x-request-id"]
    assert span.attributes["job"] == "webhook-deliverer" and span.attributes["event.attempt"] == 1
    # async-http-client's client span is the receiver's parent, under the delivery's span.
    hook = next(h for h in collector.hooks if h["event"]["payload"].get("name") == name)
    hop = hook["traceparent"].split("-")[2]
    spans = collector.wait(lambda spans: any(s.span_id == hop for s in spans))
    [client] = [s for s in spans if s.span_id == hop]
    assert client.kind == CLIENT and client.parent == span.span_id


def test_processing_steps_are_spans_of_the_job(traced, collector):
    name = f"checked/{uuid.uuid4().hex}.png"
    response = httpx.post(f"{traced.url}/object/checked/{name}", content=png(),
                          headers=service_headers(**{"content-type": "image/png"}))
    assert response.status_code == 200, response.text

    def job(spans):
        roots = [s for s in spans if s.name == "processing.job" and s.attributes.get("storage.object") == name]
        return roots and [s for s in spans if s.trace_id == roots[0].trace_id]

    trace = job(collector.wait(lambda spans: job(spans) and sum(s.name == "processing.step" for s in job(spans)) == 2))
    [root] = [s for s in trace if s.name == "processing.job"]
    steps = sorted((s for s in trace if s.name == "processing.step"), key=lambda s: s.start)
    assert [s.attributes["processing.step"] for s in steps] == ["sniff-mime", "sha256"]
    assert all(s.parent == root.span_id and s.attributes["processing.outcome"].startswith("passed") for s in steps)
    assert root.attributes["storage.bucket"] == "checked" and root.attributes["job"] == "processing"
    if MODE != "file":
        assert any(s.name == "s3.GetObject" and s.parent == steps[1].span_id for s in trace)


def test_off_by_default_and_flushed_at_shutdown(tmp_path):
    collector = Collector()
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    try:
        # Without TRACING_ENABLED nothing is sent, OTEL_* variables or not.
        with lone_server(tmp_path / "off", "compat_tracing_off", {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
                                                                  "OTEL_BSP_SCHEDULE_DELAY": "10"}) as off:
            assert httpx.get(f"{off.url}/bucket", headers=service_headers()).status_code == 200
            time.sleep(0.5)
        assert collector.spans == []
        # Spans still batched when SIGTERM comes are exported before the process ends.
        with lone_server(tmp_path / "on", "compat_tracing_flush", {
                "TRACING_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
                "OTEL_BSP_SCHEDULE_DELAY": "600000"}) as on:
            response = httpx.get(f"{on.url}/bucket", headers=service_headers())
            time.sleep(0.5)
            assert collector.spans == []
            assert on.stop() == 0
        root = server_span(collector.trace_of(response.headers["x-request-id"], settled=lambda t: True))
        assert root.name == "GET /bucket"
    finally:
        collector.stop()
