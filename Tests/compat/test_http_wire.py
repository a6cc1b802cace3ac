"""Wire-level details with raw httpx and sockets: ranges, conditional requests, download headers,
HEAD and info, mounts, unknown routes, the error envelope, health, CORS, request ids,
`Expect: 100-continue`, chunked bodies, public access and bulk delete (contract §3, §5, §8;
contract §1, §5.12 and §12.1 for mounts, CORS and health).
"""

import email.utils
import json
import socket
import time

import httpx
import pytest

from conftest import SERVICE_KEY, service_headers
from helpers_objects import ENVELOPE_KEYS, assert_envelope, md5_etag, object_path, raw_upload

DATA = b"0123456789abcdefghij"
SIZE = len(DATA)


@pytest.fixture
def stored(http, bucket):
    """A 20-byte text object with a cache control; returns its download path."""
    response = raw_upload(http, bucket, "wire/data.txt", DATA,
                          headers={"Content-Type": "text/plain", "Cache-Control": "max-age=60"})
    assert response.status_code == 200, response.text
    return object_path(bucket, "wire/data.txt")


@pytest.fixture
def root_http(server):
    with httpx.Client(base_url=server.root_url, timeout=60) as client:
        yield client


def get(http, path, **headers):
    return http.get(path, headers=service_headers(**headers))


# Range


@pytest.mark.parametrize("header, start, end", [
    ("bytes=0-4", 0, 4),
    ("bytes=-3", SIZE - 3, SIZE - 1),
    ("bytes=5-", 5, SIZE - 1),
    ("bytes=15-999", 15, SIZE - 1),  # clamped to the end
    ("bytes=19-19", 19, 19),
])
def test_range(http, stored, header, start, end):
    response = get(http, stored, Range=header)
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.content == DATA[start:end + 1]


def test_unsatisfiable_range(http, stored):
    response = get(http, stored, Range="bytes=999999-")
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert response.headers["accept-ranges"] == "bytes"
    body = response.json()
    assert list(body) == ENVELOPE_KEYS and body["statusCode"] == "416" and body["code"] == "InvalidRange"


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=5-2", "pages=0-1", "bytes=0-1,3-4", "bytes="])
def test_malformed_range_serves_everything(http, stored, header):
    response = get(http, stored, Range=header)
    assert (response.status_code, response.content) == (200, DATA)
    assert "content-range" not in response.headers
    assert response.headers["accept-ranges"] == "bytes"


# Conditional requests and download headers


def test_etag_and_if_none_match(http, stored):
    plain = get(http, stored)
    assert plain.headers["etag"] == md5_etag(DATA)
    assert plain.headers["cache-control"] == "max-age=60"
    assert plain.headers["content-length"] == str(SIZE)
    assert email.utils.parsedate_to_datetime(plain.headers["last-modified"]).tzinfo is not None

    same = get(http, stored, **{"If-None-Match": md5_etag(DATA)})
    assert (same.status_code, same.content) == (304, b"")
    assert same.headers["etag"] == md5_etag(DATA) and same.headers["accept-ranges"] == "bytes"

    other = get(http, stored, **{"If-None-Match": '"0000"'})
    assert (other.status_code, other.content) == (200, DATA)
    assert other.headers["cache-control"] == "max-age=60, stale-while-revalidate=30"


def test_if_modified_since(http, stored):
    future = email.utils.formatdate(time.time() + 3600, usegmt=True)
    response = get(http, stored, **{"If-Modified-Since": future})
    assert (response.status_code, response.content) == (304, b"")
    past = get(http, stored, **{"If-Modified-Since": "Mon, 01 Jan 1990 00:00:00 GMT"})
    assert (past.status_code, past.content) == (200, DATA)


@pytest.mark.parametrize("query, expected", [
    ("download", "attachment;"),
    ("download=", "attachment;"),
    ("download=my%20file.txt", "attachment; filename=my%20file.txt; filename*=UTF-8''my%20file.txt"),
    ("download=my+file.txt", "attachment; filename=my%20file.txt; filename*=UTF-8''my%20file.txt"),
    ("download=r%C3%A9sum%C3%A9.pdf", "attachment; filename=r%C3%A9sum%C3%A9.pdf; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"),
    ("download=it's%20(1)%3B%22x%22.txt",  # encodeURIComponent keeps ' ( ) and escapes ; and "
     "attachment; filename=it's%20(1)%3B%22x%22.txt; filename*=UTF-8''it's%20(1)%3B%22x%22.txt"),
])
def test_content_disposition(http, stored, query, expected):
    response = get(http, f"{stored}?{query}")
    assert response.status_code == 200 and response.content == DATA
    assert response.headers["content-disposition"] == expected


def test_no_content_disposition_without_download(http, stored):
    assert "content-disposition" not in get(http, stored).headers


@pytest.mark.parametrize("content_type", ["text/html", "text/html; charset=utf-8"])
def test_html_is_served_as_plain_text(http, bucket, content_type):
    raw_upload(http, bucket, "page.html", b"<script>alert(1)</script>", headers={"Content-Type": content_type})
    for method in ("GET", "HEAD"):
        response = http.request(method, object_path(bucket, "page.html"), headers=service_headers())
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain"


# HEAD and info


def test_head_object(http, stored):
    response = http.head(stored, headers=service_headers())
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["etag"] == md5_etag(DATA)
    assert response.headers["cache-control"] == "max-age=60"
    assert response.headers["accept-ranges"] == "bytes"
    assert email.utils.parsedate_to_datetime(response.headers["last-modified"]) is not None


def test_head_with_stale_etag(http, stored):
    response = http.head(stored, headers=service_headers(**{"If-None-Match": '"stale"'}))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "max-age=60, must-revalidate"


def test_head_missing_object(http, bucket):
    response = http.head(object_path(bucket, "missing.txt"), headers=service_headers())
    assert (response.status_code, response.content) == (400, b"")


def test_head_info(http, stored):
    response = http.head(stored.replace("/object/", "/object/info/", 1), headers=service_headers())
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["etag"] == md5_etag(DATA)


@pytest.mark.parametrize("route", ["object/info", "object/info/authenticated"])
def test_info_shape(server, http, bucket, stored, route):
    response = get(http, object_path(bucket, "wire/data.txt", route=route))
    assert response.status_code == 200
    assert response.headers["etag"] == md5_etag(DATA)
    assert response.headers["cache-control"] == "max-age=60"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["id", "name", "version", "bucket_id", "size", "content_type", "cache_control", "etag",
                          "metadata", "last_modified", "created_at"]
    row_id, version, _, _, _, _ = server.object_row(bucket, "wire/data.txt")
    assert (body["id"], body["version"], body["name"], body["bucket_id"]) == (str(row_id), version, "wire/data.txt", bucket)
    assert (body["size"], body["content_type"], body["etag"], body["metadata"]) == (SIZE, "text/plain", md5_etag(DATA), {})


# Mounts, unknown routes, envelope, health


def test_routes_at_root_and_under_prefix(root_http, bucket, stored):
    for prefix in ("", "/storage/v1"):
        listed = root_http.get(f"{prefix}/bucket", headers=service_headers())
        assert listed.status_code == 200 and bucket in [b["id"] for b in listed.json()]
        download = root_http.get(f"{prefix}{stored}", headers=service_headers())
        assert (download.status_code, download.content) == (200, DATA)
        assert root_http.get(f"{prefix}/status").status_code == 200


# `/object/<bucket>/` (empty key) is left out: upstream's wildcard matches it (InvalidKey, see test_errors.py).
@pytest.mark.parametrize("method, path", [
    ("DELETE", "/bucket"),
    ("GET", "/object"),
    ("PATCH", "/object/zz/key"),
    ("GET", "/bucket/x/y"),
    ("POST", "/object/list"),
])
@pytest.mark.parametrize("prefix", ["", "/storage/v1"])
def test_unknown_storage_route(root_http, method, path, prefix):
    response = root_http.request(method, prefix + path, headers=service_headers())
    assert response.status_code == 404
    # The message names the route as the server sees it behind the gateway (without the mount prefix).
    assert response.json() == {"statusCode": "404", "error": "Not Found",
                               "message": f"Route {method}:{path} not found", "code": "InvalidRequest"}
    assert list(response.json()) == ENVELOPE_KEYS


@pytest.mark.parametrize("prefix", ["", "/storage/v1"])
def test_unknown_route_elsewhere(root_http, prefix):
    response = root_http.get(f"{prefix}/nope/x")
    assert response.status_code == 404
    assert list(response.json()) == ["message", "error", "statusCode"]
    assert response.json() == {"message": "Route GET:/nope/x not found", "error": "Not Found", "statusCode": 404}


def test_error_envelope(http, bucket):
    assert_envelope(get(http, "/bucket/does-not-exist"), "404", "Bucket not found", "NoSuchBucket", "Bucket not found")
    assert_envelope(get(http, object_path(bucket, "nope.txt")), "404", "not_found", "NoSuchKey", "Object not found")
    missing_auth = http.post(object_path(bucket, "x.txt"), content=b"x")
    assert_envelope(missing_auth, "400", "Error", "InvalidRequest", "headers must have required property 'authorization'")
    bad_jwt = http.get("/bucket", headers={"Authorization": "Bearer not-a-jwt"})
    assert_envelope(bad_jwt, "403", "Unauthorized", "AccessDenied", "Invalid Compact JWS")


def test_status_and_health(root_http):
    for prefix in ("", "/storage/v1"):
        assert root_http.get(f"{prefix}/status").status_code == 200
        health = root_http.get(f"{prefix}/health")
        assert health.status_code == 200
        assert health.json() == {"healthy": True, "database": "ok", "storage": "ok"}


# CORS and request ids


def test_cors_preflight(http, bucket):
    response = http.options(object_path(bucket, "k.txt"), headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, x-upsert, content-type, x-custom-thing"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PUT", "DELETE", "HEAD"} <= methods
    assert response.headers["access-control-allow-headers"] == "authorization, x-upsert, content-type, x-custom-thing"


def test_cors_on_normal_responses(http, stored):
    for response in (get(http, stored, Origin="https://app.example"),
                     get(http, "/bucket/missing-bucket", Origin="https://app.example")):
        assert response.headers["access-control-allow-origin"] == "*"
        exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
        assert {"etag", "content-range", "content-disposition", "content-length"} <= exposed


def test_request_id(http):
    assert http.get("/status", headers={"X-Request-Id": "compat-req-42"}).headers["x-request-id"] == "compat-req-42"
    first, second = (http.get("/status").headers.get("x-request-id") for _ in range(2))
    assert first and second and first != second


# Body transfer


def read_http_response(sock: socket.socket, buffered: bytes) -> tuple[int, dict, bytes]:
    """Reads one HTTP/1.1 response (Content-Length framed, or until close) after `buffered`."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the response headers: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def test_expect_continue(server, bucket):
    body = b"sent after the interim response " * 64
    path = f"/storage/v1{object_path(bucket, 'expect/c.bin')}"
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {SERVICE_KEY}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
            "Expect: 100-continue\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        interim = b""
        deadline = time.monotonic() + 0.5
        while b"\r\n\r\n" not in interim and time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), f"no 100 Continue within 0.5 s: {interim!r}"
        sock.settimeout(10)
        sock.sendall(body)
        status, _, content = read_http_response(sock, interim.split(b"\r\n\r\n", 1)[1])
    assert status == 200, content
    assert json.loads(content)["Key"] == f"{bucket}/expect/c.bin"
    assert server.version_files(bucket, "expect/c.bin")[0].read_bytes() == body


def test_chunked_upload_without_length(server, http, bucket):
    parts = [bytes([n]) * 1000 for n in range(64)]
    response = raw_upload(http, bucket, "chunked.bin", iter(parts), headers={"Content-Type": "application/x-test"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 200, response.text
    assert get(http, object_path(bucket, "chunked.bin")).content == b"".join(parts)
    metadata = server.object_row(bucket, "chunked.bin")[2]
    assert (metadata["size"], metadata["mimetype"]) == (64000, "application/x-test")
    server.assert_consistent(bucket)


# Public access and authorization header handling


def test_public_route(http, make_bucket):
    public, private = make_bucket(public=True), make_bucket()
    for name in (public, private):
        raw_upload(http, name, "pub/file.txt", DATA)
    response = http.get(object_path(public, "pub/file.txt", route="object/public"))
    assert (response.status_code, response.content) == (200, DATA)
    assert_envelope(http.get(object_path(private, "pub/file.txt", route="object/public")),
                    "404", "Bucket not found", "NoSuchBucket", "Bucket not found")
    assert_envelope(http.get(object_path(public, "missing.txt", route="object/public")),
                    "404", "not_found", "NoSuchKey")


def test_plain_route_without_auth(http, make_bucket):
    public, private = make_bucket(public=True), make_bucket()
    for name in (public, private):
        raw_upload(http, name, "f.txt", DATA)
    for headers in ({}, {"Authorization": "Bearer garbage"}):  # invalid tokens read as anonymous
        response = http.get(object_path(public, "f.txt"), headers=headers)
        assert (response.status_code, response.content) == (200, DATA)
        assert_envelope(http.get(object_path(private, "f.txt"), headers=headers),
                        "404", "Bucket not found", "NoSuchBucket")


def test_authenticated_route_requires_header(http, bucket, stored):
    path = object_path(bucket, "wire/data.txt", route="object/authenticated")
    assert_envelope(http.get(path), "400", "Error", "InvalidRequest",
                    "headers must have required property 'authorization'")
    assert get(http, path).content == DATA


# Upsert and bulk delete


def test_x_upsert_on_post_and_put(server, http, bucket):
    assert raw_upload(http, bucket, "u.txt", b"one").status_code == 200
    row_id = server.object_row(bucket, "u.txt")[0]
    duplicate = raw_upload(http, bucket, "u.txt", b"two")
    assert_envelope(duplicate, "409", "Duplicate", "KeyAlreadyExists", "The resource already exists")
    assert raw_upload(http, bucket, "u.txt", b"two", headers={"x-upsert": "false"}).status_code == 400
    assert get(http, object_path(bucket, "u.txt")).content == b"one"

    replaced = raw_upload(http, bucket, "u.txt", b"three", headers={"x-upsert": "true"})
    assert replaced.status_code == 200 and replaced.json()["Id"] == str(row_id)
    for body in (b"four", b"five"):  # PUT always upserts, without any header
        assert raw_upload(http, bucket, "u.txt", body, method="PUT").status_code == 200
    assert get(http, object_path(bucket, "u.txt")).content == b"five"
    assert server.object_row(bucket, "u.txt")[0] == row_id
    server.assert_consistent(bucket)


def test_bulk_delete(server, http, bucket):
    for key in ("del/a.txt", "del/b.txt"):
        raw_upload(http, bucket, key, DATA)
    path = f"/object/{bucket}"
    empty = http.request("DELETE", path, json={"prefixes": []}, headers=service_headers())
    assert_envelope(empty, "400", "Error", "InvalidRequest")
    response = http.request("DELETE", path, json={"prefixes": ["del/a.txt", "del/nope", "del/b.txt"]},
                            headers=service_headers())
    assert response.status_code == 200
    rows = response.json()
    assert sorted(r["name"] for r in rows) == ["del/a.txt", "del/b.txt"]
    for row in rows:
        assert list(row) == ["name", "bucket_id", "owner", "owner_id", "version", "id", "updated_at", "created_at",
                             "last_accessed_at", "metadata", "user_metadata"]
        assert (row["bucket_id"], row["owner"], row["owner_id"], row["user_metadata"]) == (bucket, "", "", {})
        assert row["version"] and row["id"] and row["metadata"]["size"] == SIZE
        server.assert_nothing_left(bucket, row["name"])
    server.assert_consistent(bucket)


def test_delete_single_object(server, http, bucket):
    raw_upload(http, bucket, "one/x.txt", DATA)
    path = object_path(bucket, "one/x.txt")
    response = http.delete(path, headers=service_headers())
    assert (response.status_code, response.json()) == (200, {"message": "Successfully deleted"})
    server.assert_nothing_left(bucket, "one/x.txt")
    assert_envelope(http.delete(path, headers=service_headers()), "404", "not_found", "NoSuchKey")
