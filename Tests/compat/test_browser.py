"""A real browser on another origin calls storage directly, as supabase-js does (contract §12.1, CORS).

Headless Chromium opens browser/index.html, served by a small Python server on its own port, so
every call to the storage server is cross-origin: requests with Authorization, apikey, x-upsert,
Range or TUS headers go through a CORS preflight, and response headers such as ETag, Location and
Upload-Offset are readable by the page only if the server exposes them. The page (browser/steps.js)
uploads (multipart FormData and raw PUT), signs and downloads, runs TUS by hand, uploads an 8 MiB
Blob and streams it back, then POSTs a JSON report to its own server. The tests check the report
and, server-side, the rows and bytes.

The page acts as an authenticated user under row-level security (a policy lets the user write
only inside a folder named after their `sub`), closer to a real app than the service role.
"""

import contextlib
import hashlib
import http.server
import json
import os
import pathlib
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass

import httpx
import pytest

from conftest import ANON_KEY, service_headers, user_token
from helpers_rls import Policies

PAGE_DIR = pathlib.Path(__file__).parent / "browser"
REPORT_TIMEOUT = 60
MiB = 1024 * 1024


class PageServer(http.server.ThreadingHTTPServer):
    """Serves the page's files and keeps the first JSON report the page POSTs to /report."""

    def __init__(self):
        self.report = None
        self.reported = threading.Event()
        super().__init__(("127.0.0.1", 0), PageHandler)
        self.origin = f"http://127.0.0.1:{self.server_port}"


class PageHandler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(PAGE_DIR), **kwargs)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/report" and not self.server.reported.is_set():
            self.server.report = json.loads(body)
            self.server.reported.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def open_page(query: dict, workdir: pathlib.Path) -> tuple[dict, str, str]:
    """Serves the page, opens it in headless Chromium and waits for its report.

    Returns the report, Chromium's log (stderr, with the page's console messages) and the page's origin.
    """
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed (scripts/test installs it)"
    page = PageServer()
    threading.Thread(target=page.serve_forever, daemon=True).start()
    log_path = workdir / "chromium.log"
    try:
        with open(log_path, "wb") as log:
            # --no-sandbox: Chromium's sandbox refuses to run as root, which CI containers are.
            process = subprocess.Popen(
                [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                 "--enable-logging=stderr", f"--user-data-dir={workdir / 'profile'}",
                 f"{page.origin}/index.html?{urllib.parse.urlencode(query)}"],
                stdout=log, stderr=log, start_new_session=True)
        try:
            deadline = time.time() + REPORT_TIMEOUT
            while not page.reported.wait(0.2):
                if process.poll() is not None or time.time() > deadline:
                    pytest.fail(f"no report from the page (chromium exit {process.poll()}):\n"
                                f"{log_path.read_text(errors='replace')[-3000:]}")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # Chromium and its helper processes
            process.wait()
    finally:
        page.shutdown()
        page.server_close()
    assert "pageError" not in page.report, page.report
    return page.report, log_path.read_text(errors="replace"), page.origin


@dataclass
class BrowserRun:
    report: dict
    browser_log: str  # Chromium's stderr, with the page's console messages (CORS refusals among them)
    page_origin: str
    bucket: str
    sub: str

    def step(self, name: str) -> dict:
        result = self.report["steps"][name]
        assert result["ok"], f"{name} threw in the page: {result['error']}"
        return result


@pytest.fixture(scope="module")
def browser_run(server, service, tmp_path_factory):
    """A bucket and a user who may write only in their own folder; the page runs once as that user."""
    bucket = f"browser-{uuid.uuid4().hex[:10]}"
    service.create_bucket(bucket)
    policies = Policies(server)
    try:
        own_folder = f"bucket_id = '{bucket}' and (storage.foldername(name))[1] = auth.uid()::text"
        policies.add("objects", f"for all to authenticated using ({own_folder}) with check ({own_folder})")
        sub = str(uuid.uuid4())
        query = {"storage": server.url, "bucket": bucket, "token": user_token(sub), "apikey": ANON_KEY, "folder": sub}
        yield BrowserRun(*open_page(query, tmp_path_factory.mktemp("browser")), bucket, sub)
    finally:
        service.empty_bucket(bucket)
        service.delete_bucket(bucket)
        policies.drop_all()


def stored_bytes(server, bucket: str, key: str) -> bytes:
    """The object as the service role downloads it, outside the browser."""
    response = httpx.get(f"{server.url}/object/{bucket}/{key}", headers=service_headers(), timeout=60)
    assert response.status_code == 200, response.text
    return response.content


def request_log(server) -> list[dict]:
    """The server's access log lines (JSON, one per request)."""
    lines = (json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("msg") == "request"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_page_runs_on_another_origin(server, browser_run):
    assert browser_run.report["origin"] == browser_run.page_origin != server.root_url
    assert "Chrome/" in browser_run.report["userAgent"]


def test_multipart_form_upload(server, browser_run):
    """A FormData upload with a Blob (field name "", cacheControl and metadata fields first)."""
    result = browser_run.step("multipart")
    assert result["status"] == 200, result["body"]
    key = result["key"]
    assert result["body"]["Key"] == f"{browser_run.bucket}/{key}"
    row = server.object_row(browser_run.bucket, key)
    assert row is not None and str(row[0]) == result["body"]["Id"] and row[5] == browser_run.sub
    assert row[2]["mimetype"] == "application/x-browser-form" and row[2]["cacheControl"] == "max-age=120"
    assert row[2]["size"] == result["size"] and row[3] == {"from": "browser-form"}
    assert sha256(stored_bytes(server, browser_run.bucket, key)) == result["sha256"]


def test_raw_upsert_replaces_the_object(server, browser_run):
    """PUT with x-upsert and a raw body, twice: content type, cache control and x-metadata from headers."""
    result = browser_run.step("rawUpsert")
    assert result["statuses"] == [200, 200], result["body"]
    key = result["key"]
    row = server.object_row(browser_run.bucket, key)
    assert row is not None and row[5] == browser_run.sub
    assert row[2]["mimetype"] == "application/x-browser-raw" and row[2]["cacheControl"] == "max-age=60"
    assert row[2]["size"] == result["size"] and row[3] == {"from": "browser-raw"}
    assert sha256(stored_bytes(server, browser_run.bucket, key)) == result["sha256"]


def test_signed_url_download_exposes_headers(server, browser_run):
    """The page reads ETag, Content-Disposition and Content-Length of a download through a signed URL."""
    uploaded = browser_run.step("rawUpsert")
    result = browser_run.step("signedDownload")
    assert result["signStatus"] == 200
    assert result["status"] == 200
    assert (result["size"], result["sha256"]) == (uploaded["size"], uploaded["sha256"])
    headers = result["headers"]
    assert headers["content-type"] == "application/x-browser-raw"
    assert headers["content-length"] == str(uploaded["size"])
    # Signed downloads carry Expires instead of the object's Cache-Control (spec, download headers).
    assert headers["cache-control"] is None and headers["expires"] is not None
    row = server.object_row(browser_run.bucket, uploaded["key"])
    assert headers["etag"] is not None and headers["etag"].strip('"') == row[2]["eTag"].strip('"')
    assert headers["content-disposition"] is not None and "copy.bin" in headers["content-disposition"]


def test_ranged_authenticated_download(server, browser_run):
    """Range passes the preflight; the page reads Content-Range and gets exactly those bytes."""
    uploaded = browser_run.step("rawUpsert")
    result = browser_run.step("rangedDownload")
    assert result["status"] == 206
    assert result["headers"]["content-range"] == f"bytes 100-199/{uploaded['size']}"
    assert result["headers"]["content-length"] == "100"
    assert result["headers"]["cache-control"] == "max-age=60"
    data = stored_bytes(server, browser_run.bucket, uploaded["key"])
    assert (result["size"], result["sha256"]) == (100, sha256(data[100:200]))


def test_tus_upload_by_hand(server, browser_run):
    """Create, PATCH 5 MiB + 1 chunks, HEAD in between: Location and Upload-Offset are readable."""
    result = browser_run.step("tus")
    create = result["create"]
    assert create["status"] == 201
    assert create["headers"]["location"].startswith(f"{server.url}/upload/resumable/")
    assert create["headers"]["tus-resumable"] == "1.0.0"
    assert create["headers"]["upload-expires"] is not None
    chunk, size = 5 * MiB + 1, result["size"]
    offsets = [min(chunk * n, size) for n in range(1, -(-size // chunk) + 1)]
    assert [p["status"] for p in result["patches"]] == [204] * len(offsets), result["patches"]
    assert [int(p["headers"]["upload-offset"]) for p in result["patches"]] == offsets
    assert all(p["headers"]["tus-resumable"] == "1.0.0" for p in result["patches"])
    assert [(h["status"], h["headers"]["upload-offset"], h["headers"]["upload-length"]) for h in result["heads"]] == [
        (200, str(offset), str(size)) for offset in offsets[:-1]]
    assert all(h["headers"]["cache-control"] == "no-store" for h in result["heads"])
    download = result["download"]
    assert download["status"] == 200
    assert (download["size"], download["sha256"]) == (size, result["sha256"])
    assert download["headers"]["content-type"] == "application/x-browser-tus"
    row = server.object_row(browser_run.bucket, result["key"])
    assert row is not None and row[5] == browser_run.sub and row[2]["size"] == size
    assert sha256(stored_bytes(server, browser_run.bucket, result["key"])) == result["sha256"]


def test_large_blob_streamed_back(server, browser_run):
    """An 8 MiB Blob made in the page goes up as a raw body and comes back through response.body."""
    result = browser_run.step("largeBlob")
    assert result["upload"]["status"] == 200, result["upload"]["body"]
    download = result["download"]
    assert download["status"] == 200
    assert download["headers"]["content-length"] == str(8 * MiB)
    assert download["headers"]["content-type"] == "application/x-browser-large"
    assert download["reads"] > 1, "the body arrived in one piece, not as a stream"
    assert (download["size"], download["sha256"]) == (8 * MiB, result["sha256"])
    assert sha256(stored_bytes(server, browser_run.bucket, result["key"])) == result["sha256"]


def test_streaming_request_body(server, browser_run):
    """fetch with a ReadableStream body (duplex: 'half').

    Chromium streams request bodies only over HTTP/2 or QUIC, which browsers speak only over TLS;
    the server speaks HTTP/1.1, so after a successful preflight the browser refuses to send the
    request. The server's request log tells that refusal apart from a failed preflight. If a future
    setup lets the request through (TLS + HTTP/2 in front), the bytes must arrive intact.
    """
    result = browser_run.step("streamingBody")
    if result["outcome"] == "rejected":
        assert result["error"].startswith("TypeError"), result["error"]
        seen = [(line["method"], line["status"]) for line in request_log(server)
                if line["path"].endswith(f"/{browser_run.bucket}/{result['key']}")]
        assert seen == [("OPTIONS", "204")], seen
        assert "blocked by CORS policy" not in browser_run.browser_log
        assert server.object_row(browser_run.bucket, result["key"]) is None
    else:
        assert result["status"] == 200, result["body"]
        assert sha256(stored_bytes(server, browser_run.bucket, result["key"])) == result["sha256"]


def test_no_cors_refusals_in_the_console(browser_run):
    assert "blocked by CORS policy" not in browser_run.browser_log


def test_nothing_else_left(server, browser_run):
    rows = {row[0] for row in server.sql("select name from storage.objects where bucket_id = %s", browser_run.bucket)}
    sub = browser_run.sub
    expected = {f"{sub}/{name}" for name in ("form.bin", "raw.bin", "resumable.bin", "large.bin")}
    assert expected <= rows <= expected | {f"{sub}/streamed.bin"}
    server.assert_consistent(browser_run.bucket)
