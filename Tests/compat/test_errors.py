"""Error paths of the object API (contract §2.1, §3, §5, §6): exact envelopes, and nothing left behind.

Every failed write is followed by `Server.assert_nothing_left` (no row, no stored version, no
partial upload in the temporary folder). Every error body is checked to be the Supabase envelope:
exactly `statusCode` (a string), `error`, `message`, `code` — never an empty 500.
"""

import socket
import time
import uuid

import pytest
from storage3.exceptions import StorageApiError

from conftest import ANON_KEY, GLOBAL_LIMIT, SERVICE_KEY, bearer, service_headers, sign_jwt, user_token
from helpers_rls import RLS_DENIED, envelope, expect_error

BOUNDARY = "compatboundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def raw_upload(http, bucket, key, content, token=SERVICE_KEY, **headers):
    headers.setdefault("content-type", "application/octet-stream")
    return http.post(f"/object/{bucket}/{key}", content=content, headers=bearer(token, **headers))


def chunks(size, chunk=64 * 1024):
    """A generator body: httpx sends it chunked, without Content-Length."""
    sent = 0
    while sent < size:
        part = min(chunk, size - sent)
        sent += part
        yield b"z" * part


def file_part(data: bytes, content_type="text/plain") -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode() + data


def unique(prefix="k"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# Duplicates


def test_duplicate_upload_keeps_the_original(server, service, http, bucket):
    files = service.from_(bucket)
    files.upload("dup.txt", b"original")
    before = server.object_row(bucket, "dup.txt")

    with pytest.raises(StorageApiError) as error:
        files.upload("dup.txt", b"intruder")
    assert (error.value.status, error.value.code, error.value.message) == (
        "409", "Duplicate", "The resource already exists")
    raw = raw_upload(http, bucket, "dup.txt", b"raw intruder")
    expect_error(raw, "409", "Duplicate", "The resource already exists", "KeyAlreadyExists")

    assert server.object_row(bucket, "dup.txt") == before
    assert [p.name for p in server.version_files(bucket, "dup.txt")] == [before[1]]
    assert files.download("dup.txt") == b"original"
    server.assert_consistent(bucket)


# Missing buckets and keys


def test_missing_bucket_on_object_routes(server, service, http):
    missing = unique("missing")
    files = service.from_(missing)
    for call in (lambda: files.upload("a.txt", b"x"),
                 lambda: files.download("a.txt"),
                 lambda: files.info("a.txt"),
                 lambda: files.exists("a.txt")):
        with pytest.raises(StorageApiError) as error:
            call()
        assert (error.value.status, error.value.code) == ("404", "Bucket not found")
    expect_error(raw_upload(http, missing, "a.txt", b"x"), "404", "Bucket not found", "Bucket not found", "NoSuchBucket")
    head = http.head(f"/object/{missing}/a.txt", headers=service_headers())
    assert (head.status_code, head.content) == (400, b"")

    # Copy/move name the missing bucket: NoSuchBucket here (upstream reports the source as
    # NoSuchKey); both are logical 404s, which is what clients branch on.
    for route in ("copy", "move"):
        body = envelope(http.post(f"/object/{route}", json={"bucketId": missing, "sourceKey": "a.txt",
                                                             "destinationKey": "b.txt"}, headers=service_headers()))
        assert body["statusCode"] == "404"
    # Deleting one object looks the row up first: NoSuchKey.
    body = envelope(http.delete(f"/object/{missing}/a.txt", headers=service_headers()))
    assert (body["statusCode"], body["code"]) == ("404", "NoSuchKey")
    # Upstream's list v1/v2 and bulk remove never look the bucket up: they find nothing.
    assert files.list() == []
    assert files.remove(["a.txt"]) == []
    assert http.post(f"/object/list-v2/{missing}", json={}, headers=service_headers()).json() == {
        "hasNext": False, "folders": [], "objects": []}
    assert not server.bucket_dir(missing).exists()
    assert server.sql("select 1 from storage.objects where bucket_id = %s", missing) == []


def test_missing_key(server, service, http, bucket):
    files = service.from_(bucket)
    files.upload("present.txt", b"here")
    for call in (lambda: files.download("absent.txt"), lambda: files.info("absent.txt")):
        with pytest.raises(StorageApiError) as error:
            call()
        assert (error.value.status, error.value.code, error.value.message) == ("404", "not_found", "Object not found")
    assert files.exists("absent.txt") is False
    head = http.head(f"/object/{bucket}/absent.txt", headers=service_headers())
    assert (head.status_code, head.content) == (400, b"")
    expect_error(http.delete(f"/object/{bucket}/absent.txt", headers=service_headers()),
                 "404", "not_found", "Object not found", "NoSuchKey")
    for route in ("copy", "move"):
        response = http.post(f"/object/{route}", json={"bucketId": bucket, "sourceKey": "absent.txt",
                                                        "destinationKey": "dest.txt"}, headers=service_headers())
        expect_error(response, "404", "not_found", "Object not found", "NoSuchKey")
        server.assert_nothing_left(bucket, "dest.txt")
    assert files.remove(["absent.txt"]) == []
    assert files.download("present.txt") == b"here"
    server.assert_consistent(bucket)


# Names


INVALID_BUCKET_NAMES = ["bad%23name", "caf%C3%A9", "x" * 101, "a%5Bb", "tilde~", "tab%09name", "back%5Cslash"]


@pytest.mark.parametrize("encoded", INVALID_BUCKET_NAMES)
def test_invalid_bucket_name_on_object_routes(server, http, encoded):
    def check(response):
        expect_error(response, "400", "Invalid Input", "Bucket name invalid", "InvalidBucketName")

    headers = service_headers()
    check(raw_upload(http, encoded, "a.txt", b"x"))
    check(http.put(f"/object/{encoded}/a.txt", content=b"x", headers=headers))
    check(http.get(f"/object/{encoded}/a.txt", headers=headers))
    check(http.get(f"/object/info/{encoded}/a.txt", headers=headers))
    check(http.delete(f"/object/{encoded}/a.txt", headers=headers))
    check(http.post(f"/object/list/{encoded}", json={"prefix": ""}, headers=headers))
    check(http.post(f"/object/list-v2/{encoded}", json={}, headers=headers))
    check(http.request("DELETE", f"/object/{encoded}", json={"prefixes": ["a.txt"]}, headers=headers))
    assert server.temporary_files() == []


def test_invalid_destination_bucket_in_copy_and_move(server, service, http, bucket):
    service.from_(bucket).upload("src.txt", b"x")
    for route in ("copy", "move"):
        response = http.post(f"/object/{route}", json={"bucketId": bucket, "sourceKey": "src.txt",
                                                        "destinationKey": "d.txt", "destinationBucket": "bad#name"},
                             headers=service_headers())
        expect_error(response, "400", "Invalid Input", "Bucket name invalid", "InvalidBucketName")
    assert server.object_row(bucket, "src.txt") is not None
    server.assert_consistent(bucket)


@pytest.mark.parametrize("encoded,key", [
    ("caf%C3%A9.txt", "café.txt"),
    ("a%25b.txt", "a%b.txt"),
    ("a%23b.txt", "a#b.txt"),
    ("a~b.txt", "a~b.txt"),
    ("a%5Bb%5D.txt", "a[b].txt"),
    ("a%5Cb.txt", "a\\b.txt"),
    ("dir/%E2%9C%93.txt", "dir/✓.txt"),
])
def test_invalid_keys_are_refused_and_nothing_stored(server, http, bucket, encoded, key):
    for response in (raw_upload(http, bucket, encoded, b"data"),
                     http.put(f"/object/{bucket}/{encoded}", content=b"data", headers=service_headers()),
                     http.post(f"/object/{bucket}/{encoded}", content=file_part(b"data") + f"\r\n--{BOUNDARY}--\r\n".encode(),
                               headers=service_headers(**{"content-type": MULTIPART}))):
        expect_error(response, "400", "InvalidKey", f"Invalid key: {key}", "InvalidKey")
    server.assert_nothing_left(bucket, key)
    assert server.all_files(bucket) == []


def test_invalid_keys_through_storage3_and_json_routes(server, service, http, bucket):
    files = service.from_(bucket)
    with pytest.raises(StorageApiError) as error:
        files.upload("naïve.txt", b"x")
    assert (error.value.status, error.value.code, error.value.message) == ("400", "InvalidKey", "Invalid key: naïve.txt")
    files.upload("ok.txt", b"x")
    for route in ("copy", "move"):
        response = http.post(f"/object/{route}", json={"bucketId": bucket, "sourceKey": "ok.txt",
                                                        "destinationKey": "bad#key"}, headers=service_headers())
        expect_error(response, "400", "InvalidKey", "Invalid key: bad#key", "InvalidKey")
    assert server.sql("select name from storage.objects where bucket_id = %s", bucket) == [("ok.txt",)]
    server.assert_consistent(bucket)


def test_empty_key_is_an_invalid_key(server, http, bucket):
    """upstream §7: only the empty key is rejected by length, with `Invalid key: ` (trailing space)."""
    response = raw_upload(http, bucket, "", b"data")
    expect_error(response, "400", "InvalidKey", "Invalid key: ", "InvalidKey")
    assert server.all_files(bucket) == [] and server.temporary_files() == []


# Size limits


@pytest.fixture
def small_bucket(make_bucket):
    return make_bucket(file_size_limit=100)


def expect_too_large(response):
    expect_error(response, "413", "Payload too large", "The object exceeded the maximum allowed size", "EntityTooLarge")


def test_multipart_over_bucket_limit(server, service, small_bucket):
    files = service.from_(small_bucket)
    with pytest.raises(StorageApiError) as error:
        files.upload("big.bin", b"x" * 101)
    assert (error.value.status, error.value.code, error.value.message) == (
        "413", "Payload too large", "The object exceeded the maximum allowed size")
    server.assert_nothing_left(small_bucket, "big.bin")
    assert files.upload("exact.bin", b"y" * 100).full_path == f"{small_bucket}/exact.bin"
    assert files.download("exact.bin") == b"y" * 100
    server.assert_consistent(small_bucket)


def test_raw_over_bucket_limit_with_content_length(server, http, small_bucket):
    expect_too_large(raw_upload(http, small_bucket, "big.bin", b"x" * 101))
    server.assert_nothing_left(small_bucket, "big.bin")
    assert raw_upload(http, small_bucket, "exact.bin", b"y" * 100).status_code == 200
    assert server.object_row(small_bucket, "exact.bin")[2]["size"] == 100


@pytest.mark.parametrize("size,chunk", [(101, 10), (5000, 64), (300_000, 64 * 1024)])
def test_raw_chunked_over_bucket_limit(server, http, small_bucket, size, chunk):
    """Contract §5.1: bodies without Content-Length are counted while streaming."""
    response = raw_upload(http, small_bucket, "chunked.bin", chunks(size, chunk))
    expect_too_large(response)
    server.assert_nothing_left(small_bucket, "chunked.bin")


def test_raw_chunked_at_bucket_limit(server, http, small_bucket):
    response = raw_upload(http, small_bucket, "exact.bin", chunks(100, 7))
    assert response.status_code == 200, response.text
    assert http.get(f"/object/{small_bucket}/exact.bin", headers=service_headers()).content == b"z" * 100
    server.assert_consistent(small_bucket)


def test_global_limit_without_content_length(server, http, bucket):
    response = raw_upload(http, bucket, "huge.bin", chunks(GLOBAL_LIMIT + 1))
    expect_too_large(response)
    server.assert_nothing_left(bucket, "huge.bin")


def test_declared_length_over_global_limit_is_refused_before_the_body(server, bucket):
    """Content-Length > limit fails before reading (§5.1): the answer comes with no body sent."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall((f"POST /storage/v1/object/{bucket}/huge.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Authorization: Bearer {SERVICE_KEY}\r\nContent-Type: application/octet-stream\r\n"
                      f"Content-Length: {GLOBAL_LIMIT + 1}\r\n\r\n").encode())
        answer = b""
        while not answer.endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 400 ")
    assert '"code":"EntityTooLarge"' in answer and '"statusCode":"413"' in answer
    server.assert_nothing_left(bucket, "huge.bin")


# Mime types


def expect_bad_mime(response, mime):
    expect_error(response, "415", "invalid_mime_type", f"mime type {mime} is not supported", "InvalidMimeType")


def test_allowed_mime_types(server, service, http, make_bucket):
    name = make_bucket(allowed_mime_types=["image/png", "text/*"])
    files = service.from_(name)
    files.upload("a.png", b"png", {"content-type": "image/png"})
    files.upload("b.csv", b"1,2", {"content-type": "text/csv"})
    assert server.object_row(name, "b.csv")[2]["mimetype"] == "text/csv"
    with pytest.raises(StorageApiError) as error:
        files.upload("c.pdf", b"%PDF", {"content-type": "application/pdf"})
    assert (error.value.status, error.value.code, error.value.message) == (
        "415", "invalid_mime_type", "mime type application/pdf is not supported")
    server.assert_nothing_left(name, "c.pdf")
    expect_bad_mime(raw_upload(http, name, "d.pdf", b"%PDF", **{"content-type": "application/pdf"}), "application/pdf")
    server.assert_nothing_left(name, "d.pdf")
    # Case-sensitive: IMAGE/PNG is not image/png.
    expect_bad_mime(raw_upload(http, name, "e.png", b"png", **{"content-type": "IMAGE/PNG"}), "IMAGE/PNG")
    server.assert_nothing_left(name, "e.png")
    server.assert_consistent(name)


def test_multipart_part_type_parameters_are_stripped(server, service, make_bucket):
    """storage3 sends the part as `text/plain;charset=UTF-8`; busboy reports `text/plain`."""
    name = make_bucket(allowed_mime_types=["text/plain"])
    service.from_(name).upload("note.txt", b"hello")
    assert server.object_row(name, "note.txt")[2]["mimetype"] == "text/plain"


def test_raw_content_type_parameters_are_compared(server, http, make_bucket):
    """§6.4: the raw Content-Type is compared whole, so parameters make it a different type."""
    name = make_bucket(allowed_mime_types=["text/plain"])
    response = raw_upload(http, name, "note.txt", b"hello", **{"content-type": "text/plain;charset=UTF-8"})
    expect_bad_mime(response, "text/plain;charset=UTF-8")
    server.assert_nothing_left(name, "note.txt")
    assert raw_upload(http, name, "plain.txt", b"hello", **{"content-type": "text/plain"}).status_code == 200


# Malformed multipart bodies


def multipart_upload(http, bucket, key, body, content_type=MULTIPART):
    return http.post(f"/object/{bucket}/{key}", content=body, headers=service_headers(**{"content-type": content_type}))


def test_multipart_without_file_part(server, http, bucket):
    body = f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n60\r\n--{BOUNDARY}--\r\n"
    expect_error(multipart_upload(http, bucket, "nofile.txt", body.encode()),
                 "400", "InvalidRequest", "No content provided", "InvalidRequest")
    server.assert_nothing_left(bucket, "nofile.txt")


def test_multipart_without_boundary(server, http, bucket):
    body = file_part(b"hello") + f"\r\n--{BOUNDARY}--\r\n".encode()
    response = multipart_upload(http, bucket, "noboundary.txt", body, content_type="multipart/form-data")
    expect_error(response, "400", "InvalidRequest", "Multipart: Boundary not found", "InvalidRequest")
    server.assert_nothing_left(bucket, "noboundary.txt")


@pytest.mark.parametrize("ending", [
    b"",                                   # ends inside the file's bytes
    b"\r\n",                               # the closing `--boundary--` line is missing
    f"\r\n--{BOUNDARY}\r\n".encode(),      # a next part is announced but never arrives
])
def test_multipart_without_closing_boundary(server, http, bucket, ending):
    """A body that ends before the close delimiter is incomplete: no object may come of it."""
    response = multipart_upload(http, bucket, "truncated.txt", file_part(b"hello world") + ending)
    body = envelope(response)
    assert (body["statusCode"], body["code"]) == ("400", "InvalidRequest")
    server.assert_nothing_left(bucket, "truncated.txt")


@pytest.mark.parametrize("multipart", [False, True])
def test_client_disconnect_mid_upload_leaves_nothing(server, bucket, multipart):
    """Content-Length promises more than is sent, then the client goes away."""
    if multipart:
        payload, content_type = file_part(b"q" * 5000), MULTIPART
    else:
        payload, content_type = b"q" * 5000, "application/octet-stream"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall((f"POST /storage/v1/object/{bucket}/cut.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Authorization: Bearer {SERVICE_KEY}\r\nContent-Type: {content_type}\r\n"
                      f"Content-Length: {len(payload) + 10_000}\r\n\r\n").encode() + payload)
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_WR)
        try:
            sock.recv(65536)
        except OSError:
            pass
    deadline = time.time() + 10
    while server.temporary_files() and time.time() < deadline:
        time.sleep(0.1)
    server.assert_nothing_left(bucket, "cut.bin")


# JWTs


def list_as(http, bucket, token):
    return http.post(f"/object/list/{bucket}", json={"prefix": ""}, headers=bearer(token))


@pytest.mark.parametrize("token,message", [
    ("abc", "Invalid Compact JWS"),
    ("a.b.c.d", "Invalid Compact JWS"),
    (sign_jwt({"role": "service_role"}, secret="not-the-secret-but-long-enough-to-be-one"), "signature verification failed"),
    (sign_jwt({"role": "service_role", "exp": int(time.time()) - 60}), '"exp" claim timestamp check failed'),
    (sign_jwt({"role": "service_role", "nbf": int(time.time()) + 600}), '"nbf" claim timestamp check failed'),
    (sign_jwt({"role": "service_role"}, alg="HS384"), '"alg" (Algorithm) Header Parameter value not allowed'),
    (sign_jwt({"role": "service_role"}, alg="none"), '"alg" (Algorithm) Header Parameter value not allowed'),
])
def test_bad_jwts_are_access_denied(server, http, bucket, token, message):
    expect_error(list_as(http, bucket, token), "403", "Unauthorized", message, "AccessDenied")
    expect_error(raw_upload(http, bucket, "jwt.txt", b"x", token=token), "403", "Unauthorized", message, "AccessDenied")
    server.assert_nothing_left(bucket, "jwt.txt")


def test_tampered_payload_fails_the_signature(server, http, bucket):
    head, _, signature = user_token(str(uuid.uuid4())).split(".")
    forged = sign_jwt({"role": "service_role"}).split(".")[1]
    expect_error(list_as(http, bucket, f"{head}.{forged}.{signature}"),
                 "403", "Unauthorized", "signature verification failed", "AccessDenied")


def test_token_without_exp_is_accepted(server, service, http, bucket):
    service.from_(bucket).upload("visible.txt", b"x")
    response = list_as(http, bucket, sign_jwt({"role": "service_role"}))
    assert response.status_code == 200
    assert [item["name"] for item in response.json()] == ["visible.txt"]


def test_missing_authorization_header(server, http, bucket):
    expected = ("400", "Error", "headers must have required property 'authorization'", "InvalidRequest")
    expect_error(http.post(f"/object/list/{bucket}", json={"prefix": ""}), *expected)
    expect_error(http.post(f"/object/{bucket}/noauth.txt", content=b"x"), *expected)
    expect_error(http.delete(f"/object/{bucket}/noauth.txt"), *expected)
    # A bare `Bearer` is an empty token: present, but not a JWS.
    expect_error(http.post(f"/object/list/{bucket}", json={"prefix": ""}, headers={"Authorization": "Bearer"}),
                 "403", "Unauthorized", "Invalid Compact JWS", "AccessDenied")
    server.assert_nothing_left(bucket, "noauth.txt")


def test_role_that_is_not_a_database_role(server, service, http, bucket):
    """Spec §2.2: such a role fails at the database. Whatever the status, it must be an envelope,
    must store nothing, and must not poison the connection the next request gets."""
    token = user_token(str(uuid.uuid4()), role="hacker")
    for response in (list_as(http, bucket, token), raw_upload(http, bucket, "hacker.txt", b"x", token=token),
                     http.get(f"/object/{bucket}/hacker.txt", headers=bearer(token))):
        body = envelope(response, http_status=response.status_code)
        assert 400 <= response.status_code < 600 and body["statusCode"] in ("400", "403", "500")
    server.assert_nothing_left(bucket, "hacker.txt")
    for _ in range(5):
        assert service.from_(bucket).list() == []


# Allow-invalid-JWT routes read as anonymous


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer abc"}, {}, bearer(sign_jwt({"role": "anon"}, secret="x" * 40))])
def test_invalid_token_reads_public_bucket_anonymously(server, service, http, make_bucket, headers):
    public = make_bucket(public=True)
    service.from_(public).upload("open.txt", b"public bytes")
    download = http.get(f"/object/{public}/open.txt", headers=headers)
    assert (download.status_code, download.content) == (200, b"public bytes")
    info = http.get(f"/object/info/{public}/open.txt", headers=headers)
    assert info.status_code == 200 and info.json()["size"] == len(b"public bytes")
    head = http.head(f"/object/{public}/open.txt", headers=headers)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(b"public bytes"))


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer abc"}, {}])
def test_invalid_token_on_private_bucket_is_bucket_not_found(server, service, http, bucket, headers):
    service.from_(bucket).upload("secret.txt", b"secret")
    for path in (f"/object/{bucket}/secret.txt", f"/object/info/{bucket}/secret.txt"):
        expect_error(http.get(path, headers=headers), "404", "Bucket not found", "Bucket not found", "NoSuchBucket")
    head = http.head(f"/object/{bucket}/secret.txt", headers=headers)
    assert (head.status_code, head.content) == (400, b"")


def test_anon_key_on_private_bucket_without_policies(server, service, anon, http, bucket):
    service.from_(bucket).upload("kept.txt", b"kept")
    with pytest.raises(StorageApiError) as denied:
        anon.from_(bucket).upload("anon.txt", b"x")
    assert (denied.value.status, denied.value.code) == RLS_DENIED[:2]
    server.assert_nothing_left(bucket, "anon.txt")
    chunked = raw_upload(http, bucket, "anon.txt", chunks(1000), token=ANON_KEY)
    server.assert_nothing_left(bucket, "anon.txt")
    # A valid anon JWT is a caller, not anonymous: RLS hides the row.
    with pytest.raises(StorageApiError) as error:
        anon.from_(bucket).download("kept.txt")
    assert (error.value.status, error.value.code) == ("404", "not_found")
    assert anon.from_(bucket).list() == []
    assert anon.from_(bucket).remove(["kept.txt"]) == []
    assert service.from_(bucket).download("kept.txt") == b"kept"
    # Last, so a wording difference does not hide the outcomes above.
    assert denied.value.message == RLS_DENIED[2]
    expect_error(chunked, *RLS_DENIED)


# JSON bodies


def test_json_body_errors(server, http, bucket):
    headers = service_headers(**{"content-type": "application/json"})
    body = envelope(http.post(f"/object/list/{bucket}", content=b"{not json", headers=headers))
    assert (body["statusCode"], body["code"]) == ("400", "InvalidRequest")
    expect_error(http.post(f"/object/list/{bucket}", json={"limit": 10}, headers=service_headers()),
                 "400", "Error", "body must have required property 'prefix'", "InvalidRequest")
    body = envelope(http.post(f"/object/list/{bucket}", json={"prefix": "", "limit": 0}, headers=service_headers()))
    assert (body["statusCode"], body["code"]) == ("400", "InvalidRequest")
    body = envelope(http.post(f"/object/list/{bucket}", json={"prefix": "", "sortBy": {"column": "size"}},
                              headers=service_headers()))
    assert body["code"] == "InvalidRequest"
    body = envelope(http.post("/object/copy", json={"bucketId": bucket, "sourceKey": "a"}, headers=service_headers()))
    assert body["message"] == "body must have required property 'destinationKey'"
    body = envelope(http.request("DELETE", f"/object/{bucket}", json={"prefixes": []}, headers=service_headers()))
    assert body["code"] == "InvalidRequest"


def test_json_body_over_one_mebibyte(server, http, bucket):
    response = http.post(f"/object/list/{bucket}", json={"prefix": "p" * (1 << 20)}, headers=service_headers())
    body = envelope(response, http_status=413)
    assert body["statusCode"] == "413"


# The envelope everywhere


def test_every_error_is_an_envelope(server, service, http, bucket):
    """A sweep of failing requests: each answers with the envelope, never an empty or non-JSON 500."""
    service.from_(bucket).upload("one.txt", b"1")
    headers = service_headers()
    requests = [
        ("POST", f"/object/{bucket}/one.txt", {"content": b"again"}),
        ("GET", f"/object/{bucket}/nope.txt", {}),
        ("GET", f"/object/info/{bucket}/nope.txt", {}),
        ("GET", f"/object/authenticated/{bucket}/nope.txt", {}),
        ("GET", f"/object/public/{bucket}/one.txt", {}),
        ("DELETE", f"/object/{bucket}/nope.txt", {}),
        ("POST", "/object/copy", {"json": {"bucketId": bucket, "sourceKey": "one.txt", "destinationKey": "one.txt"}}),
        ("POST", "/object/move", {"json": {"bucketId": bucket, "sourceKey": "nope", "destinationKey": "x"}}),
        ("POST", f"/object/list/{bucket}", {"json": []}),
        ("POST", f"/object/list-v2/{bucket}", {"json": {"cursor": "!!not a cursor!!"}}),
        ("POST", f"/object/list-v2/{bucket}", {"json": {"limit": "many"}}),
        ("PUT", f"/object/{bucket}/x.txt", {"content": b"x", "headers": {"content-type": "multipart/form-data"}}),
    ]
    for method, path, options in requests:
        extra = options.pop("headers", {})
        response = http.request(method, path, headers={**headers, **extra}, **options)
        assert response.status_code in (400, 404), (method, path, response.status_code, response.text)
        body = envelope(response, http_status=response.status_code)
        assert body["message"] and body["error"] and body["code"], (method, path, body)
    assert server.sql("select name from storage.objects where bucket_id = %s", bucket) == [("one.txt",)]
    server.assert_consistent(bucket)
