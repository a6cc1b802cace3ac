"""Hardening (docs/contract.md, "Hardening"): bad inputs that used to cost memory, bytes or
access, each tried the way an attacker or a careless client would.

- multipart part headers are capped (16 KiB) and a form to a missing bucket is refused before
  its body is read;
- object responses carry `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox`;
- a move obeys the destination bucket's size and MIME rules; a media type is `type/subtype`
  plus parameters, nothing more;
- signed-URL tokens verify only with the URL-signing secret, must expire, and a render token
  serves only its render;
- a resumable upload is reachable only by its creator (or the service role);
- an object the caller cannot see answers exactly like a missing one, on every route;
- user metadata is a JSON object of at most 64 KiB;
- client-facing messages carry no paths, host names or SQL; `/metrics` can require a token.
"""

import base64
import concurrent.futures
import json
import os
import socket
import threading
import time
import uuid

import httpx
import pytest

from conftest import (ANON_KEY, MODE, SECRET, SERVICE_KEY, Server, b64url, bearer, scratch_database, service_headers,
                      rss_kib, sign_jwt, user_token)
from helpers_objects import x_metadata
from helpers_rls import envelope, expect_error, policies  # noqa: F401  (fixture)

TUS = {"Tus-Resumable": "1.0.0"}


def unique(prefix="k"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# 1. Multipart part headers


def read_response(sock: socket.socket, timeout: float) -> bytes:
    """Reads until the response head and its JSON body (Content-Length) are in, or the timeout."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if _ and b"content-length:" in head.lower():
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(body) >= length:
                break
    return data


def form_head(bucket: str, key: str, token: str, length: int) -> bytes:
    return (f"POST /storage/v1/object/{bucket}/{key} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {length}\r\n\r\n").encode()


def test_an_endless_part_header_is_refused_at_once(server, bucket):
    """A file part whose header line never ends: answered with a 4xx within a few KiB, without the
    server reading (and growing a header from) the hundreds of MB the client offers."""
    pid = server.process.pid
    before = rss_kib(pid)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(form_head(bucket, "endless.bin", ANON_KEY, 512 << 20)
                 + b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\nX-Long: ')
    sent = [0]
    stop = threading.Event()

    def pump():
        filler = b"a" * 65536
        try:
            while not stop.is_set() and sent[0] < (256 << 20):
                sock.sendall(filler)
                sent[0] += len(filler)
        except OSError:
            pass

    sender = threading.Thread(target=pump, daemon=True)
    sender.start()
    response = read_response(sock, timeout=30)
    sent_when_answered = sent[0]
    stop.set()
    sock.close()
    sender.join(10)
    assert response.startswith(b"HTTP/1.1 400"), response[:200]
    body = json.loads(response.partition(b"\r\n\r\n")[2])
    assert (body["statusCode"], body["code"]) == ("400", "InvalidRequest"), body
    assert "header" in body["message"].lower()
    # Kernel buffers hold a few MB; the server itself stopped after 16 KiB.
    assert sent_when_answered < 16 << 20, sent_when_answered
    assert rss_kib(pid) - before < 32 * 1024
    server.assert_nothing_left(bucket, "endless.bin")


def test_a_form_to_a_missing_bucket_is_refused_before_its_body(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(form_head("no-such-bucket-" + uuid.uuid4().hex[:6], "x.bin", SERVICE_KEY, 10 << 20)
                 + b'--b\r\nContent-Disposition: form-data; name="cacheControl"\r\n\r\n3600')
    response = read_response(sock, timeout=5)
    sock.close()
    assert response.startswith(b"HTTP/1.1 400"), response[:200]
    body = json.loads(response.partition(b"\r\n\r\n")[2])
    assert (body["statusCode"], body["code"]) == ("404", "NoSuchBucket")


def test_part_headers_up_to_the_cap_are_fine(server, service, http, bucket):
    padding = "p" * 12000
    form = (f'--b\r\nContent-Disposition: form-data; name="file"; filename="ok.txt"\r\nX-Padding: {padding}\r\n'
            f"Content-Type: text/plain\r\n\r\nhello\r\n--b--\r\n").encode()
    response = http.post(f"/object/{bucket}/ok.txt", content=form,
                         headers=service_headers(**{"content-type": "multipart/form-data; boundary=b"}))
    assert response.status_code == 200, response.text
    assert service.from_(bucket).download("ok.txt") == b"hello"


# 2. Object responses cannot run script


@pytest.mark.parametrize("content_type", ["application/xhtml+xml", "image/svg+xml", "text/xml", "text/html"])
def test_object_responses_cannot_run_script(server, service, http, make_bucket, content_type):
    bucket = make_bucket(public=True)
    page = b'<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(document.cookie)</script></html>'
    service.from_(bucket).upload("page", page, {"content-type": content_type})
    signed = service.from_(bucket).create_signed_url("page", 60)["signedURL"]
    responses = {
        "public": http.get(f"/object/public/{bucket}/page"),
        "authenticated": http.get(f"/object/authenticated/{bucket}/page", headers=service_headers()),
        "default": http.get(f"/object/{bucket}/page", headers=service_headers()),
        "head": http.head(f"/object/{bucket}/page", headers=service_headers()),
        "signed": httpx.get(signed),
        "ranged": http.get(f"/object/public/{bucket}/page", headers={"range": "bytes=0-9"}),
    }
    for route, response in responses.items():
        assert response.status_code in (200, 206), (route, response.status_code)
        assert response.headers.get("x-content-type-options") == "nosniff", route
        assert response.headers.get("content-security-policy") == "sandbox", route


# 3. Move obeys the destination; media types are type/subtype


def move(http, bucket, source, destination_bucket, destination, token=SERVICE_KEY):
    return http.post("/object/move", headers=bearer(token), json={
        "bucketId": bucket, "sourceKey": source, "destinationBucket": destination_bucket,
        "destinationKey": destination})


def test_move_obeys_the_destination_buckets_rules(server, service, http, make_bucket):
    source = make_bucket()
    pngs = make_bucket(allowed_mime_types=["image/png"])
    small = make_bucket(file_size_limit=1000)
    files = service.from_(source)
    files.upload("page.html", b"<p>hi</p>", {"content-type": "text/html"})
    files.upload("big.png", b"\x89PNG" + b"0" * 2000, {"content-type": "image/png"})

    expect_error(move(http, source, "page.html", pngs, "page.html"),
                 "415", "invalid_mime_type", "mime type text/html is not supported", "InvalidMimeType")
    expect_error(move(http, source, "big.png", small, "big.png"),
                 "413", "Payload too large", "The object exceeded the maximum allowed size", "EntityTooLarge")
    assert files.download("page.html") == b"<p>hi</p>"
    assert files.download("big.png").startswith(b"\x89PNG")
    server.assert_nothing_left(pngs, "page.html")
    server.assert_nothing_left(small, "big.png")
    # What the rules allow still moves.
    assert move(http, source, "big.png", pngs, "big.png").status_code == 200
    assert service.from_(pngs).download("big.png").startswith(b"\x89PNG")


@pytest.mark.parametrize("declared", ["image/png/x", "image/png/", "png", "image/", "/png", "image/p ng", "image/png x"])
def test_a_media_type_is_type_slash_subtype_and_parameters(server, http, make_bucket, declared):
    pngs = make_bucket(allowed_mime_types=["image/png"])
    anything = make_bucket()
    for bucket in (pngs, anything):
        response = http.post(f"/object/{bucket}/x.png", content=b"\x89PNG",
                             headers=service_headers(**{"content-type": declared}))
        body = envelope(response)
        assert (body["statusCode"], body["code"]) == ("415", "InvalidMimeType"), (bucket, declared, body)
        server.assert_nothing_left(bucket, "x.png")


def test_valid_media_types_still_pass(server, service, http, make_bucket):
    pngs = make_bucket(allowed_mime_types=["image/png", "text/*"])
    for declared in ["image/png", "text/plain;charset=UTF-8", "text/x-c++src; charset=utf-8"]:
        response = http.post(f"/object/{pngs}/{unique()}", content=b"x",
                             headers=service_headers(**{"content-type": declared}))
        assert response.status_code == 200, (declared, response.text)


@pytest.mark.parametrize("entry", ["image/png/x", "image", "image/png/*", "*"])
def test_bucket_mime_entries_are_type_slash_subtype(server, http, entry):
    name = unique("b")
    response = http.post("/bucket", headers=service_headers(), json={"name": name, "allowed_mime_types": [entry]})
    body = envelope(response)
    assert (body["statusCode"], body["code"]) == ("415", "InvalidMimeType"), body
    assert server.sql("select 1 from storage.buckets where id = %s", name) == []


# 5. Signed-URL tokens: the URL-signing secret only, expiring, render tokens for renders


IDP_SECRET = b"a third-party identity provider's HMAC secret"
URL_KEY = b"the key marked for signing URLs, not the JWT secret"


def oct_jwk(kid: str, secret: bytes) -> dict:
    return {"kty": "oct", "kid": kid, "alg": "HS256", "k": b64url(secret)}


@pytest.fixture(scope="module")
def jwks_server(tmp_path_factory):
    """A server whose JWKS holds an IdP's HMAC key and a key marked for URL signing."""
    base = tmp_path_factory.mktemp("jwks")
    jwks = {"keys": [oct_jwk("idp", IDP_SECRET)], "urlSigningKey": oct_jwk("url-1", URL_KEY)}
    with scratch_database("compat_jwks") as database_url:
        instance = Server(os.environ["STORAGE_API_BINARY"], database_url, base / "storage", base / "server.log",
                          extra_env={"JWT_JWKS": json.dumps(jwks), "METRICS_AUTH_TOKEN": "scrape-me"})
        instance.start()
        client = instance.client(SERVICE_KEY)
        client.create_bucket("signed", options={"public": False})
        client.from_("signed").upload("secret.txt", b"top secret", {"content-type": "text/plain"})
        yield instance
        instance.stop()


def idp_token(claims: dict) -> str:
    return sign_jwt(claims, secret=IDP_SECRET.decode(), header={"kid": "idp"})


def test_idp_keys_authenticate_users_but_never_sign_urls(jwks_server):
    http = jwks_server.http()
    now = int(time.time())
    # As a user JWT the IdP's key is accepted (a user of that IdP reads what RLS lets them).
    as_user = http.get("/bucket", headers=bearer(idp_token({"role": "service_role", "exp": now + 60})))
    assert as_user.status_code == 200
    forged = idp_token({"url": "signed/secret.txt", "scope": "download", "iat": now, "exp": now + 60})
    response = http.get(f"/object/sign/signed/secret.txt?token={forged}")
    assert envelope(response)["code"] == "InvalidJWT"
    upload = idp_token({"url": "signed/planted.txt", "scope": "upload", "upsert": True, "iat": now, "exp": now + 60})
    response = http.put(f"/object/upload/sign/signed/planted.txt?token={upload}", content=b"planted",
                        headers={"content-type": "text/plain"})
    assert envelope(response)["code"] == "InvalidJWT"
    assert jwks_server.object_row("signed", "planted.txt") is None
    tus = http.post("/upload/resumable/sign", headers={
        **TUS, "x-signature": upload, "Upload-Length": "7",
        "Upload-Metadata": f"bucketName {base64.b64encode(b'signed').decode()},"
                           f"objectName {base64.b64encode(b'planted.txt').decode()}"})
    assert 400 <= tus.status_code < 500 and "location" not in tus.headers


def test_urls_are_signed_with_the_url_key(jwks_server):
    client = jwks_server.client(SERVICE_KEY)
    signed = client.from_("signed").create_signed_url("secret.txt", 60)["signedURL"]
    token = signed.rsplit("token=", 1)[1]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header.get("kid") == "url-1"
    assert httpx.get(signed).content == b"top secret"
    # The JWT secret is a URL-signing secret too.
    now = int(time.time())
    by_secret = sign_jwt({"url": "signed/secret.txt", "scope": "download", "iat": now, "exp": now + 60})
    assert jwks_server.http().get(f"/object/sign/signed/secret.txt?token={by_secret}").content == b"top secret"


def test_url_tokens_must_expire(server, service, http, bucket):
    service.from_(bucket).upload("forever.txt", b"x", {"content-type": "text/plain"})
    eternal = sign_jwt({"url": f"{bucket}/forever.txt", "scope": "download", "iat": int(time.time())})
    assert envelope(http.get(f"/object/sign/{bucket}/forever.txt?token={eternal}"))["code"] == "InvalidJWT"
    upload = sign_jwt({"url": f"{bucket}/eternal-upload.txt", "scope": "upload", "upsert": False})
    response = http.put(f"/object/upload/sign/{bucket}/eternal-upload.txt?token={upload}", content=b"x")
    assert envelope(response)["code"] == "InvalidJWT"
    server.assert_nothing_left(bucket, "eternal-upload.txt")


def test_a_render_token_serves_only_its_render(server, service, http, make_bucket):
    bucket = make_bucket()
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==")
    service.from_(bucket).upload("pic.png", png, {"content-type": "image/png"})
    signed = http.post(f"/object/sign/{bucket}/pic.png", headers=service_headers(),
                       json={"expiresIn": 60, "transform": {"width": 1, "height": 1}}).json()["signedURL"]
    assert signed.startswith("/render/image/sign/")
    token = signed.rsplit("token=", 1)[1]
    assert http.get(signed).status_code == 200
    response = http.get(f"/object/sign/{bucket}/pic.png?token={token}")
    assert envelope(response)["code"] == "InvalidSignature"


# 6. Resumable uploads belong to their creator


def tus_create(http, token, bucket, name, length=8):
    metadata = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                        for k, v in {"bucketName": bucket, "objectName": name}.items())
    response = http.post("/upload/resumable", headers={
        **TUS, **bearer(token), "Upload-Length": str(length), "Upload-Metadata": metadata})
    assert response.status_code == 201, response.text
    return "/upload/resumable/" + response.headers["location"].rsplit("/", 1)[1]


def test_a_resumable_upload_is_reachable_only_by_its_creator(server, http, bucket, policies):
    policies.add("objects", f"for all to authenticated using (bucket_id = '{bucket}') with check (bucket_id = '{bucket}')")
    alice, bob = user_token(str(uuid.uuid4())), user_token(str(uuid.uuid4()))
    path = tus_create(http, alice, bucket, "alice.bin")
    patch = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    for token in (bob, ANON_KEY, user_token(None)):
        assert http.head(path, headers={**TUS, **bearer(token)}).status_code == 404
        assert http.get(path, headers={**TUS, **bearer(token)}).status_code == 404
        assert http.patch(path, headers={**patch, **bearer(token)}, content=b"intruder").status_code == 404
        assert http.delete(path, headers={**TUS, **bearer(token)}).status_code == 404
    head = http.head(path, headers={**TUS, **bearer(alice)})
    assert (head.status_code, head.headers["upload-offset"]) == (200, "0")
    assert http.head(path, headers={**TUS, **bearer(SERVICE_KEY)}).status_code == 200
    assert http.patch(path, headers={**patch, **bearer(alice)}, content=b"12345678").status_code == 204
    assert server.client(SERVICE_KEY).from_(bucket).download("alice.bin") == b"12345678"


def test_a_creator_without_sub_is_known_by_role(server, http, bucket, policies):
    policies.add("objects", f"for all to authenticated using (bucket_id = '{bucket}') with check (bucket_id = '{bucket}')")
    path = tus_create(http, user_token(None), bucket, "nobody.bin")
    assert http.head(path, headers={**TUS, **bearer(user_token(None))}).status_code == 200
    assert http.head(path, headers={**TUS, **bearer(user_token(str(uuid.uuid4())))}).status_code == 404


# 7. Invisible answers like missing


def test_an_invisible_object_answers_like_a_missing_one_on_every_route(server, service, http, bucket, policies):
    own = f"bucket_id = '{bucket}' and owner_id = (current_setting('request.jwt.claims', true)::jsonb ->> 'sub')"
    policies.add("objects", f"for all to authenticated using ({own}) with check ({own})")
    alice_sub = str(uuid.uuid4())
    alice, bob = user_token(alice_sub), user_token(str(uuid.uuid4()))
    assert server.client(alice).from_(bucket).upload("mine.png", b"\x89PNG alice", {"content-type": "image/png"})

    def answers(key):
        headers = bearer(bob)
        return [
            http.get(f"/object/{bucket}/{key}", headers=headers),
            http.get(f"/object/authenticated/{bucket}/{key}", headers=headers),
            http.head(f"/object/{bucket}/{key}", headers=headers),
            http.head(f"/object/authenticated/{bucket}/{key}", headers=headers),
            http.get(f"/object/info/{bucket}/{key}", headers=headers),
            http.get(f"/object/info/authenticated/{bucket}/{key}", headers=headers),
            http.post(f"/object/sign/{bucket}/{key}", headers=headers, json={"expiresIn": 60}),
            http.post(f"/object/sign/{bucket}", headers=headers, json={"expiresIn": 60, "paths": [key]}),
            http.get(f"/render/image/authenticated/{bucket}/{key}", headers=headers, params={"width": 10}),
            http.post("/object/copy", headers=headers, json={"bucketId": bucket, "sourceKey": key,
                                                             "destinationKey": unique()}),
            http.post("/object/move", headers=headers, json={"bucketId": bucket, "sourceKey": key,
                                                             "destinationKey": unique()}),
            http.request("DELETE", f"/object/{bucket}", headers=headers, json={"prefixes": [key]}),
            http.delete(f"/object/{bucket}/{key}", headers=headers),
        ]

    def comparable(response):
        text = response.text.replace("mine.png", "KEY").replace("missing.png", "KEY")
        return response.status_code, text

    invisible = [comparable(r) for r in answers("mine.png")]
    missing = [comparable(r) for r in answers("missing.png")]
    for index, (seen, expected) in enumerate(zip(invisible, missing)):
        assert seen == expected, (index, seen, expected)
    assert server.object_row(bucket, "mine.png") is not None
    assert server.client(alice).from_(bucket).download("mine.png") == b"\x89PNG alice"


# 9. Renders: non-images refused from their first bytes; memory per render bounded


@pytest.fixture(scope="module")
def render_server(tmp_path_factory):
    """Eight image workers and a 48 MiB upload limit, so 40 MB sources reach the renderer."""
    base = tmp_path_factory.mktemp("render-hardening")
    env = {"IMAGE_TRANSFORMATION_WORKERS": "8", "IMAGE_TRANSFORMATION_QUEUE_SIZE": "8",
           "UPLOAD_FILE_SIZE_LIMIT": str(48 * 1024 * 1024), "IMAGE_TRANSFORMATION_CACHE_MAX_BYTES": "60000"}
    with scratch_database("compat_render_hardening") as database_url:
        instance = Server(os.environ["STORAGE_API_BINARY"], database_url, base / "storage", base / "server.log",
                          extra_env=env)
        instance.start()
        yield instance
        instance.stop()


def test_renders_of_a_large_non_image_are_refused_without_reading_it(render_server):
    """Issue 11 item 9: 8 parallel renders of a 40 MB non-image once read each whole source into
    memory (RSS +320 MB); now each reads its first bytes and answers 400."""
    client = render_server.client(SERVICE_KEY)
    bucket = f"big-{uuid.uuid4().hex[:8]}"
    client.create_bucket(bucket, options={"public": True})
    http = render_server.http()
    response = http.put(f"/object/{bucket}/noise.jpg", content=os.urandom(40 * 1024 * 1024),
                        headers=service_headers(**{"content-type": "image/jpeg"}))
    assert response.status_code == 200, response.text
    url = f"{render_server.url}/render/image/public/{bucket}/noise.jpg?width=200&format=webp"
    assert httpx.get(url, timeout=60).status_code == 400  # libvips and the workers started
    with open(f"/proc/{render_server.process.pid}/clear_refs", "w") as refs:
        refs.write("5")
    idle = rss_kib(render_server.process.pid, "VmHWM")
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: httpx.get(url, timeout=120), range(8)))
    for answer in answers:
        expect_error(answer, "400", "InvalidRequest", "The source image is invalid or unsupported for rendering",
                     "InvalidRequest")
    grown = (rss_kib(render_server.process.pid, "VmHWM") - idle) // 1024
    assert grown < 64, f"peak RSS grew by {grown} MiB"
    client.empty_bucket(bucket)
    client.delete_bucket(bucket)


def test_the_variant_cache_is_bounded(render_server):
    """Every distinct width was a new variant kept forever; now the oldest are evicted once the
    cache holds IMAGE_TRANSFORMATION_CACHE_MAX_BYTES (here 60 000)."""
    client = render_server.client(SERVICE_KEY)
    bucket = f"cache-{uuid.uuid4().hex[:8]}"
    client.create_bucket(bucket, options={"public": True})
    png = png_bytes(120, 90, os.urandom(3 * 120 * 90))  # noise: variants of predictable size
    client.from_(bucket).upload("photo.png", png, {"content-type": "image/png"})
    base = f"{render_server.url}/render/image/public/{bucket}/photo.png"
    rendered = 0
    for width in range(20, 120, 5):
        response = httpx.get(f"{base}?width={width}&format=origin", timeout=60)
        assert response.status_code == 200, response.text
        rendered += len(response.content)
    assert rendered > 2 * 60000  # more than the cache may hold
    total = render_server.sql("select coalesce(sum(bytes), 0) from storage_api.render_variants")[0][0]
    assert 0 < total <= 60000
    stored = [p for p in (render_server.storage_dir / "stub" / "__render").rglob("*") if p.is_file()] \
        if MODE == "file" else None
    if stored is not None:
        assert sum(p.stat().st_size for p in stored) <= 60000
        assert len(stored) < 20
    # The newest variant is still a hit; the first one was evicted and is rendered again.
    assert httpx.get(f"{base}?width=115&format=origin").headers["x-render-cache"] == "hit"
    assert httpx.get(f"{base}?width=20&format=origin").headers["x-render-cache"] == "miss"
    client.empty_bucket(bucket)
    client.delete_bucket(bucket)


def png_bytes(width: int, height: int, rgb: bytes) -> bytes:
    import struct
    import zlib
    rows = b"".join(b"\0" + rgb[y * width * 3:(y + 1) * width * 3] for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# 10. User metadata is a JSON object of at most 64 KiB


BAD_METADATA = {
    "a string": json.dumps("a string becomes one key per character"),
    "an array": json.dumps([1, 2, 3]),
    "a number": "5",
    "null": "null",
    "not JSON": "{not json",
}


@pytest.mark.parametrize("shape", sorted(BAD_METADATA))
def test_metadata_that_is_not_an_object_is_refused(server, http, bucket, shape):
    document = BAD_METADATA[shape]
    raw = http.post(f"/object/{bucket}/raw.txt", content=b"x", headers=service_headers(**{
        "content-type": "text/plain", "x-metadata": base64.b64encode(document.encode()).decode()}))
    body = envelope(raw)
    assert (body["statusCode"], body["code"]) == ("400", "InvalidRequest"), body
    form = http.post(f"/object/{bucket}/form.txt", headers=service_headers(),
                     files={"file": ("form.txt", b"x", "text/plain")}, data={"metadata": document})
    body = envelope(form)
    assert (body["statusCode"], body["code"]) == ("400", "InvalidRequest"), body
    for name in ("raw.txt", "form.txt"):
        server.assert_nothing_left(bucket, name)


def test_x_metadata_that_is_not_base64_is_refused(server, http, bucket):
    raw = http.post(f"/object/{bucket}/raw.txt", content=b"x", headers=service_headers(**{
        "content-type": "text/plain", "x-metadata": "%%% not base64"}))
    assert (envelope(raw)["statusCode"], envelope(raw)["code"]) == ("400", "InvalidRequest")
    server.assert_nothing_left(bucket, "raw.txt")


def test_metadata_over_64_kib_is_refused(server, service, http, bucket):
    """The form field is where large metadata can arrive (an `x-metadata` header of 64 KiB is
    over the 80 KiB header limit once base64-encoded)."""
    big = {"blob": "x" * (64 * 1024)}
    form = http.post(f"/object/{bucket}/big-form.txt", headers=service_headers(),
                     files={"file": ("f.txt", b"x", "text/plain")}, data={"metadata": json.dumps(big)})
    expect_error(form, "413", "Payload too large", "The user_metadata exceeded the maximum allowed size", "EntityTooLarge")
    server.assert_nothing_left(bucket, "big-form.txt")
    fits = {"blob": "x" * (50 * 1024)}
    ok = http.post(f"/object/{bucket}/fits.txt", content=b"x",
                   headers=service_headers(**{"content-type": "text/plain", "x-metadata": x_metadata(fits)}))
    assert ok.status_code == 200, ok.text
    assert server.object_row(bucket, "fits.txt")[3] == fits


def test_metadata_rules_hold_on_every_write_route(server, service, http, bucket):
    service.from_(bucket).upload("source.txt", b"source", {"content-type": "text/plain"})
    bad = base64.b64encode(b'"chars"').decode()
    copy = http.post("/object/copy", headers=service_headers(**{"x-metadata": bad}), json={
        "bucketId": bucket, "sourceKey": "source.txt", "destinationKey": "copy.txt", "copyMetadata": False})
    assert envelope(copy)["code"] == "InvalidRequest"
    server.assert_nothing_left(bucket, "copy.txt")
    sign = http.post(f"/object/upload/sign/{bucket}/signed.txt", headers=service_headers(**{"x-metadata": bad}))
    assert envelope(sign)["code"] == "InvalidRequest"
    metadata = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                        {"bucketName": bucket, "objectName": "tus.txt", "metadata": '"chars"'}.items())
    tus = http.post("/upload/resumable", headers={**TUS, **service_headers(), "Upload-Length": "3",
                                                  "Upload-Metadata": metadata})
    assert tus.status_code == 400 and "location" not in tus.headers
    assert server.sql("select 1 from storage_api.resumable_uploads where name = 'tus.txt'") == []


# 8. Tiny TUS chunks cost the same at the first and the last


def test_one_byte_patches_keep_the_upload_record_small(server, service, http, bucket):
    """Each 1-byte PATCH used to add a piece (and in S3 modes an object), growing the record and
    the work of every later PATCH; now file mode extends one piece and S3 modes merge pieces."""
    import hashlib
    data = os.urandom(300)
    metadata = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}"
                        for key, value in {"bucketName": bucket, "objectName": "tiny.bin"}.items())
    created = http.post("/upload/resumable", headers={**TUS, **service_headers(), "Upload-Length": str(len(data)),
                                                      "Upload-Metadata": metadata})
    assert created.status_code == 201, created.text
    path = created.headers["location"].split("/storage/v1", 1)[-1]
    sizes = {}
    for offset in range(len(data)):
        response = http.patch(path, content=data[offset:offset + 1], headers={
            **TUS, **service_headers(), "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        assert response.status_code == 204, response.text
        if offset + 1 in (20, 299):
            [(length, count)] = server.sql(
                "select length(pieces::text), jsonb_array_length(pieces->'pieces') from storage_api.resumable_uploads "
                "where bucket_id = %s and name = 'tiny.bin'", bucket)
            sizes[offset + 1] = (length, count)
    if MODE == "file":
        assert sizes[299][1] == 1 and sizes[299][0] <= sizes[20][0] + 8, sizes
    else:
        assert sizes[299][1] <= 10, sizes  # log2(299) pieces at most, not 299
    assert service.from_(bucket).download("tiny.bin") == data
    if MODE == "file":
        info = http.head(f"/object/{bucket}/tiny.bin", headers=service_headers())
        assert info.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    server.assert_consistent(bucket)


@pytest.mark.parametrize("form_value,header_value", [("3600\x0f", None), ("max-age=1", "max-age=max-age=1"),
                                                     ("1 day", "max-age=1 day")])
def test_a_cache_control_that_is_no_header_value_is_refused(server, http, bucket, form_value, header_value):
    """Found by the fuzz run in self-hosted mode: a cacheControl field with a control character
    was passed to S3 as Cache-Control, which refused it, and the client got a 500; so did a form
    value of `max-age=1` (stored as `max-age=max-age=1`, which SeaweedFS answers with InvalidDigest).
    Now both are a 400 in every mode, on the form and on a raw body's header."""
    form = http.post(f"/object/{bucket}/cc.txt", headers=service_headers(),
                     files={"file": ("cc.txt", b"x", "text/plain")}, data={"cacheControl": form_value})
    assert (envelope(form)["statusCode"], envelope(form)["code"]) == ("400", "InvalidRequest"), form.text
    server.assert_nothing_left(bucket, "cc.txt")
    if header_value:
        raw = http.post(f"/object/{bucket}/cc.txt", content=b"x",
                        headers=service_headers(**{"content-type": "text/plain", "cache-control": header_value}))
        assert (envelope(raw)["statusCode"], envelope(raw)["code"]) == ("400", "InvalidRequest"), raw.text
        server.assert_nothing_left(bucket, "cc.txt")
    fine = http.post(f"/object/{bucket}/cc.txt", headers=service_headers(),
                     files={"file": ("cc.txt", b"x", "text/plain")}, data={"cacheControl": "3600"})
    assert fine.status_code == 200, fine.text
    info = http.get(f"/object/info/{bucket}/cc.txt", headers=service_headers())
    assert info.json()["cache_control"] == "max-age=3600", info.text


# 11. Nothing internal in client-facing messages


def test_database_messages_stay_in_the_log(server, http, bucket):
    """A role that may read but not write the table: Postgres says 'permission denied for table
    objects'; the client hears only that access was denied."""
    token = sign_jwt({"role": "pg_read_all_data", "sub": str(uuid.uuid4()), "exp": int(time.time()) + 60})
    response = http.post(f"/object/{bucket}/denied.txt", content=b"x",
                         headers=bearer(token, **{"content-type": "text/plain"}))
    body = envelope(response)
    assert (body["statusCode"], body["code"]) == ("403", "AccessDenied"), body
    assert "table" not in body["message"] and "objects" not in body["message"], body
    server.assert_nothing_left(bucket, "denied.txt")


@pytest.mark.skipif(MODE != "file", reason="file-mode paths")
def test_file_errors_name_no_paths(server, http, bucket):
    blocker = server.bucket_dir(bucket) / "blocked"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"a file where a folder must go")
    try:
        response = http.post(f"/object/{bucket}/blocked/inner.txt", content=b"x",
                             headers=service_headers(**{"content-type": "text/plain"}))
        body = envelope(response, http_status=500)
        assert str(server.storage_dir) not in response.text and "/" not in body["message"], body
    finally:
        blocker.unlink()
    assert server.object_row(bucket, "blocked/inner.txt") is None


@pytest.mark.skipif(MODE != "file", reason="file-mode paths")
def test_health_names_the_failing_part_without_its_path(tmp_path):
    with scratch_database("compat_health") as database_url:
        instance = Server(os.environ["STORAGE_API_BINARY"], database_url, tmp_path / "storage", tmp_path / "server.log")
        instance.start()
        try:
            temporary = instance.storage_dir / ".tmp"
            temporary.rename(instance.storage_dir / ".tmp-away")
            temporary.write_bytes(b"not a folder")
            response = httpx.get(f"{instance.url}/health")
            assert response.status_code == 503
            body = response.json()
            assert body["healthy"] is False and body["database"] == "ok" and body["storage"] != "ok"
            assert str(instance.storage_dir) not in response.text and "/" not in body["storage"], body
            temporary.unlink()
            (instance.storage_dir / ".tmp-away").rename(temporary)
            assert httpx.get(f"{instance.url}/health").status_code == 200
        finally:
            instance.stop()


def test_metrics_can_require_a_token(jwks_server):
    url = f"{jwks_server.url}/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraped = httpx.get(url, headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200 and "storage_http_requests_total" in scraped.text
