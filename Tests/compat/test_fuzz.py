"""Bad-input fuzzing of the running server with Hypothesis (contract §2.1, §3, §5, §6, §8; docs/hardening.md).

Over ten thousand generated requests in file mode, by area: keys and bucket names on every object
route, JWTs, multipart bodies, Range headers, TUS headers, and junk JSON bodies and query strings.
Every answer is checked as it arrives:

- the server process is still running (a crash stops the run at once, with the request);
- no 5xx, neither as HTTP status nor as the envelope's logical `statusCode`;
- every error outside TUS is the Supabase envelope, exactly `{statusCode, error, message, code}`
  as strings (contract §3.1); TUS errors are plain text, or the envelope for JWT failures (contract §3.2);
- a request always gets an answer, within the timeout;
- where the outcome is known it is checked too: an upload that succeeded downloads the same bytes
  from the same URL, and ranges serve exactly the bytes RFC 9110 and contract §8 say.

Findings are collected rather than raised, so one run reports every defect with the exact request
(also written to `fuzz-findings.jsonl` next to the server's log). The last test checks the server is
healthy, that every bucket used is consistent (rows and bytes), and that no file the run wrote lies
outside FILE_STORAGE_BACKEND_PATH (keys and payloads carry a unique marker: traversal keys with
`..`, `%2e%2e`, absolute paths, backslashes and NUL are searched for around the storage folder and
in /tmp) — or, in self-hosted mode, outside the tenant's bucket folders in the backend bucket.

The run is reproducible: fixed seeds (FUZZ_SEED), no example database. FUZZ_SCALE multiplies every
area's example count (default 1 in file mode; self-hosted mode runs a quarter, since the paths
check is file-only and the S3 backend makes each request slower). Requests are sent with httpcore
(httpx's transport, one keep-alive connection) because httpx itself removes `..` segments from
paths, and traversal needs them on the wire.
"""

import base64
import collections
import hashlib
import io
import json
import os
import pathlib
import random
import re
import time
import urllib.parse
import uuid

import httpcore
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from PIL import Image

from conftest import (ANON_KEY, BACKEND_BUCKET, MODE, SERVICE_KEY, TENANT, b64url, bucket_factory,
                      sign_jwt, user_token)

SEED = int(os.environ.get("FUZZ_SEED", "20261122"))
SCALE = float(os.environ.get("FUZZ_SCALE", "1" if MODE == "file" else "0.25"))
# Examples per area; one example sends one to four requests.
EXAMPLES = {"keys": 2000, "jwt": 1500, "multipart": 1400, "range": 1500, "tus": 1000, "json": 1400}
REQUIRED_REQUESTS = int(10_000 * SCALE)

# In every key, payload and bucket the run creates, so its files can be found wherever they land.
MARKER = f"fzmark{uuid.uuid4().hex[:12]}"
TIMEOUTS = {"connect": 10, "read": 60, "write": 60, "pool": 10}
ENVELOPE = {"statusCode", "error", "message", "code"}
# The characters yarl (storage3) leaves unencoded in a path; everything else is percent-encoded.
PATH_SAFE = "/!$&'()*+,;=:@"
KEY_CHARS = "abcXYZ019_/!.*'() &$=@;:+,?-"


class ServerDied(Exception):
    pass


class Reply:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class Wire:
    """One keep-alive connection to the server that counts, checks and records every exchange."""

    def __init__(self, server, findings_path: pathlib.Path):
        self.server = server
        self.pool = httpcore.ConnectionPool(max_connections=1, keepalive_expiry=60)
        self.findings_path = findings_path
        self.area = "setup"
        self.sent = collections.Counter()  # per area
        self.statuses = collections.Counter()  # (area, status)
        self.refused_locally = 0
        self.findings: list[dict] = []
        self.tus_locations: set[str] = set()
        self.waiting = 0.0  # seconds spent waiting for the server

    # Sending

    def send(self, method: str, target: str, headers=(), body: bytes = b"", token: str | None = SERVICE_KEY,
             expect_tus: bool = False) -> Reply | None:
        """Sends one request; returns the reply, or None when there was none (recorded as a finding).

        `target` is sent as is (only bytes no request line may carry are percent-encoded), so
        `..` segments and stray `%` reach the server. `token` becomes `Authorization: Bearer …`.
        """
        fields = [("Host", f"127.0.0.1:{self.server.port}")]
        if token is not None:
            fields.append(("Authorization", f"Bearer {token}"))
        fields += list(headers)
        if body or method in ("POST", "PUT", "PATCH"):
            fields.append(("Content-Length", str(len(body))))
        request = {"method": method, "target": wire_target(target), "headers": [(n, header_value(v)) for n, v in fields],
                   "body": body}
        url = httpcore.URL(scheme=b"http", host=b"127.0.0.1", port=self.server.port, target=request["target"])
        started = time.monotonic()
        try:
            response = self.pool.request(
                method.encode(), url, headers=[(n.encode(), v) for n, v in request["headers"]], content=body,
                extensions={"timeout": TIMEOUTS})
        except httpcore.LocalProtocolError:
            self.refused_locally += 1  # h11 would not send it: not a request
            return None
        except httpcore.TimeoutException as error:
            self.count("timeout")
            self.alive(request, answered=False)
            self.finding("hang", request, None, f"no answer within the timeout ({type(error).__name__})")
            self.reset()
            return None
        except (httpcore.NetworkError, httpcore.RemoteProtocolError) as error:
            self.count("no-answer")
            self.alive(request, answered=False)
            self.finding("no answer", request, None, f"{type(error).__name__}: {error}")
            self.reset()
            return None
        finally:
            self.waiting += time.monotonic() - started
        reply = Reply(response.status, {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers},
                      response.content)
        self.count(reply.status)
        self.alive(request)
        self.check(request, reply, expect_tus or "/upload/resumable" in target)
        if reply.status == 201 and "location" in reply.headers:
            self.tus_locations.add(reply.headers["location"])
        return reply

    def count(self, status):
        self.sent[self.area] += 1
        self.statuses[(self.area, status)] += 1

    def reset(self):
        self.pool.close()
        self.pool = httpcore.ConnectionPool(max_connections=1, keepalive_expiry=60)

    def alive(self, request, answered: bool = True):
        """Raises ServerDied when the process is gone. Without an answer, a dying process may still
        be writing its backtrace: it counts as dead when /status cannot be reached either."""
        if not answered and self.server.process.poll() is None:
            try:
                httpx.get(f"{self.server.url}/status", timeout=10).raise_for_status()
            except httpx.HTTPError:
                try:
                    self.server.process.wait(120)
                except Exception:
                    pass
        if self.server.process.poll() is not None:
            self.finding("crash", request, None, f"exit code {self.server.process.returncode}")
            raise ServerDied(f"the server died after:\n  {describe(request)}\n{self.server.log_tail(60)}")

    # Checks

    def check(self, request, reply: Reply, tus: bool):
        if reply.status >= 500:
            self.finding("5xx", request, reply, f"HTTP {reply.status}")
            return
        if reply.status < 400 or request["method"] == "HEAD":
            return
        if oversized_header_refusal(request, reply):
            return
        problem = envelope_problem(reply)
        if problem is None:
            if int(reply.json()["statusCode"]) >= 500:
                self.finding("5xx", request, reply, f"logical statusCode {reply.json()['statusCode']}")
            return
        if tus and not reply.headers.get("content-type", "").startswith("application/json"):
            if reply.headers.get("content-type", "").startswith("text/plain") and reply.body.strip():
                return
            problem = "TUS error without a plain-text message"
        elif framework_not_found(request, reply):
            return
        self.finding("envelope", request, reply, problem)

    def finding(self, kind: str, request: dict, reply: Reply | None, detail: str):
        entry = {"kind": kind, "area": self.area, "detail": detail, "request": describe(request),
                 "status": reply.status if reply else None,
                 "response": reply.body[:300].decode("utf-8", "replace") if reply else None}
        self.findings.append(entry)
        with self.findings_path.open("a") as out:
            out.write(json.dumps({**entry, "body_base64": base64.b64encode(request["body"][:65536]).decode()}) + "\n")

    def area_findings(self, area: str) -> list[dict]:
        return [f for f in self.findings if f["area"] == area]


def wire_target(target: str) -> bytes:
    """The request target as bytes; only what a request line cannot carry is percent-encoded."""
    out = bytearray()
    for byte in target.encode("utf-8", "surrogatepass"):
        out += bytes([byte]) if 0x21 <= byte <= 0x7E else f"%{byte:02X}".encode()
    return bytes(out)


def header_value(value: str) -> bytes:
    """A header value h11 will send: UTF-8, no control bytes, no surrounding whitespace."""
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return bytes(b for b in data if b >= 0x20 and b != 0x7F or b == 0x09).strip(b" \t")


def describe(request: dict) -> str:
    """The exact request as text (long values shortened, with their length and SHA-256)."""
    def short(data: bytes) -> str:
        if len(data) <= 400:
            return repr(data)
        return f"{data[:200]!r}…({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]})"
    lines = [f"{request['method']} {request['target'].decode()}"]
    lines += [f"{name}: {short(value)}" for name, value in request["headers"] if name != "Host"]
    if request["body"]:
        lines.append(f"body: {short(request['body'])}")
    return "\n  ".join(lines)


def envelope_problem(reply: Reply) -> str | None:
    """None when the body is exactly the Supabase error envelope (contract §3.1)."""
    content_type = reply.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        return f"content-type {content_type!r}, body {reply.body[:80]!r}"
    try:
        body = reply.json()
    except ValueError:
        return f"body is not JSON: {reply.body[:80]!r}"
    if not isinstance(body, dict) or set(body) != ENVELOPE:
        return f"not the envelope: {str(body)[:200]}"
    if not all(isinstance(value, str) for value in body.values()) or not body["statusCode"].isdigit():
        return f"envelope values are not strings: {body}"
    return None


def framework_not_found(request: dict, reply: Reply) -> bool:
    """Unknown routes outside the storage prefixes answer the framework's 404 shape (contract §3.1)."""
    path = request["target"].decode().split("?")[0].removeprefix("/storage/v1")
    if reply.status != 404 or any(path.startswith(p) for p in ("/bucket", "/object", "/render/image", "/cdn")):
        return False
    try:
        body = reply.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("statusCode") == 404 and "message" in body


# SwiftNIO's HTTP parser limit for one header field; Node's (upstream) is 16 KiB for all of them.
MAX_HEADER_FIELD_BYTES = 80 * 1024


def oversized_header_refusal(request: dict, reply: Reply) -> bool:
    """A header (or request line) over the HTTP parser's limit is refused before any route runs: an empty 400 and a
    closed connection, as upstream's Node answers an empty 431 (a decision: see the issue note)."""
    longest = max((len(name) + len(value) for name, value in request["headers"]), default=0)
    # The request line has the same limit (a URL token of 100 KB+ in `?token=`).
    longest = max(longest, len(request["target"]))
    return longest > MAX_HEADER_FIELD_BYTES and reply.status in (400, 431) and not reply.body


def quote(text: str, safe: str = PATH_SAFE) -> str:
    return urllib.parse.quote(text, safe=safe, errors="surrogatepass")


def path_segment(name: str) -> str:
    """One percent-encoded path segment that httpx keeps as it is (it removes `.` and `..`)."""
    return quote(name, safe="").replace(".", "%2E") if set(name) == {"."} else quote(name, safe="")


def encode_path(text: str, how: str) -> str:
    """A key or bucket name in a URL path, in one of the ways clients (or attackers) spell it."""
    if how == "client":
        return quote(text)
    if how == "strict":
        return quote(text, safe="")
    if how == "double":
        return quote(quote(text, safe="/"), safe="/")
    return text  # raw: `..`, `%`, `\`, `?` and `#` as they are


def fuzz_settings(area: str, index: int):
    """Reproducible, no example database, no shrinking (findings are recorded, not raised)."""
    def apply(test):
        test = settings(max_examples=max(1, int(EXAMPLES[area] * SCALE)), deadline=None, derandomize=False,
                        database=None, phases=[Phase.explicit, Phase.generate], print_blob=False,
                        suppress_health_check=list(HealthCheck))(test)
        return seed(SEED + index)(test)
    return apply


# Strategies shared by the areas

junk_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "null", "undefined", "NaN", "-1", "0", "1e309", "9" * 40, "\x00", "%00", "../..",
                     "💥", "\ud800", "\\u0000", "' or 1=1 --", "${jndi:x}", "a" * 3000]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=8)
junk = st.one_of(json_values, junk_text, st.integers(min_value=-2**70, max_value=2**70))

TRAVERSAL_SEGMENTS = ["..", ".", "", "%2e%2e", "%2E%2E", "%252e%252e", "..%2f..", "%2f", "..\\..", "\\", "..;",
                      ".%00", "\x00", "tmp", "etc", "~", "...", ". .", "/tmp", "C:", "\\\\server\\share", "%00"]
traversal_keys = st.lists(st.sampled_from(TRAVERSAL_SEGMENTS), min_size=1, max_size=12).map(
    lambda segments: "/".join(segments) + f"/{MARKER}-t")
absolute_keys = st.sampled_from(["/tmp/", "/", "//", "\\tmp\\", "C:\\tmp\\", "file:///tmp/", "/etc/../tmp/",
                                 "/proc/self/cwd/", "\x00/tmp/"]).map(lambda prefix: f"{prefix}{MARKER}-a")
keys = st.one_of(
    traversal_keys,
    absolute_keys,
    st.text(alphabet=KEY_CHARS, min_size=1, max_size=40).map(lambda text: f"{MARKER}-v/{text}"),
    st.text(max_size=40).map(lambda text: f"{MARKER}-u/{text}"),
    st.text(max_size=20),
    st.integers(200, 1200).map(lambda n: f"{MARKER}-long/" + "a" * n),
    st.integers(1, 400).map(lambda n: f"{MARKER}-deep/" + "d/" * n + "leaf"),
)
path_encodings = st.sampled_from(["client", "client", "strict", "raw", "raw", "double"])
mounts = st.sampled_from(["/storage/v1", "/storage/v1", ""])


def payload(extra: bytes = b"") -> bytes:
    return f"{MARKER} payload ".encode() + extra


# Tokens

def token_kinds():
    now = int(time.time())
    service = {"role": "service_role"}
    user = {"role": "authenticated", "sub": str(uuid.uuid4()), "exp": now + 3600}
    b64 = st.text(alphabet="ABCDEFabcdef0123456789-_=+/", max_size=60)
    return st.one_of(
        st.sampled_from([SERVICE_KEY, ANON_KEY, user_token(sub=str(uuid.uuid4())), "", " ", "null", "Bearer",
                         "undefined", "a.b.c", "..", "...", "a..c", ".e30.", "e30.e30.", "e30.e30.e30"]),
        # Unsigned and wrongly signed.
        st.sampled_from(["none", "None", "NONE", "nOnE"]).map(lambda alg: sign_jwt(service, alg=alg)),
        st.sampled_from(["HS384", "HS512", "HS256"]).map(lambda alg: sign_jwt(service, secret="wrong-key" * 4, alg=alg)),
        st.sampled_from(["HS384", "HS512"]).map(lambda alg: sign_jwt(service, alg=alg)),
        st.sampled_from(["RS256", "ES256", "EdDSA", "PS256", "RS512", "hs256", "", None, 7, ["HS256"]]).map(
            lambda alg: sign_jwt(service, header={"alg": alg})),
        st.sampled_from([{"kid": "../../../../dev/null"}, {"kid": 5}, {"jku": "http://127.0.0.1:1/jwks"},
                         {"x5u": "http://127.0.0.1:1/x"}, {"crit": ["exp"]}, {"typ": 7}, {"zip": "DEF"},
                         {"b64": False, "crit": ["b64"]}]).map(lambda header: sign_jwt(service, header=header)),
        # Garbage segments.
        st.lists(b64, min_size=1, max_size=5).map(".".join),
        st.tuples(json_values, json_values).map(lambda parts: ".".join(
            b64url(json.dumps(part).encode()) for part in parts) + ".c2ln"),
        st.tuples(st.binary(max_size=40), st.binary(max_size=40)).map(
            lambda parts: f"{b64url(parts[0])}.{b64url(parts[1])}.{b64url(b'sig')}"),
        st.binary(max_size=30).map(sign_jwt),
        # Valid signatures over odd claims.
        st.integers(100_000, 300_000).map(lambda n: sign_jwt({**service, "pad": "x" * n})),
        st.integers(100_000, 200_000).map(lambda n: sign_jwt({**user, "app_metadata": {"k" * 10: ["v" * 50] * (n // 60)}})),
        st.sampled_from([now - 10, now - 86400 * 400, 0, -1]).map(lambda exp: sign_jwt({**service, "exp": exp})),
        st.sampled_from([now + 3600, 2**53, 10**20, -(2**63)]).map(lambda nbf: sign_jwt({**service, "nbf": nbf})),
        junk.map(lambda exp: sign_jwt({**service, "exp": exp})),
        junk.map(lambda value: sign_jwt({**service, "iat": value, "nbf": value})),
        st.just(sign_jwt({"sub": str(uuid.uuid4())})),  # missing role
        junk.map(lambda role: sign_jwt({"role": role, "exp": now + 3600})),  # non-string or odd role
        st.sampled_from(["", "postgres", "pg_read_server_files", "SERVICE_ROLE", "service_role ", "anon;", "public",
                         "none", "current_user", "authenticated\x00", "x" * 200, "\"quoted\"", "rôle"]).map(
            lambda role: sign_jwt({"role": role})),
        junk.map(lambda sub: sign_jwt({"role": "authenticated", "sub": sub})),
        json_values.map(lambda claims: sign_jwt(json.dumps(claims).encode())),
    )


def url_token_kinds(url: str):
    """Tokens for `?token=`: well and badly formed signed-URL tokens, then every JWT kind."""
    now = int(time.time())
    return st.one_of(
        st.sampled_from([
            sign_jwt({"url": url}),  # no exp
            sign_jwt({"url": url, "exp": now + 600, "transformations": "width:8"}),  # a render's token
            sign_jwt({"url": url, "exp": now - 10}),
            sign_jwt({"url": url, "exp": now + 600}, secret="another-secret-of-thirty-two-bytes!"),
            sign_jwt({"url": url, "exp": now + 600}, alg="HS512"),
            sign_jwt({"url": url, "exp": now + 600}, alg="none"),
            sign_jwt({"url": url + "-other", "exp": now + 600}),
            sign_jwt({"url": url, "exp": now + 600, "role": "service_role"}),
            sign_jwt({"url": url, "exp": "soon"}),
            sign_jwt({"url": [url], "exp": now + 600}),
            "", "a.b.c",
        ]),
        token_kinds())


@st.composite
def authorization_headers(draw):
    """An Authorization header (or none, or two), spelled every way."""
    token = draw(token_kinds())
    spelling = draw(st.sampled_from(["Bearer {}", "Bearer {}", "bearer {}", "BEARER  {}", "Bearer\t{}", "{}",
                                     "Basic {}", "Bearer {} extra", "Token {}"]))
    count = draw(st.sampled_from([1, 1, 1, 1, 0, 2]))
    return [("Authorization", spelling.format(token))] * count


# The arena: buckets and objects the areas aim at


class Arena:
    def __init__(self, wire: Wire, make, server):
        self.wire, self.server = wire, server
        self.main = make()
        self.public = make(public=True)
        self.scratch = make()  # emptied, updated and bulk-deleted by the fuzz
        self.dotted = []
        self.objects: dict[str, bytes] = {}
        http = httpx.Client(base_url=server.url, timeout=60,
                            headers={"Authorization": f"Bearer {SERVICE_KEY}", "apikey": SERVICE_KEY})
        self.http = http
        for name in (".", ".."):
            response = http.post("/bucket", json={"name": name})
            if response.status_code == 200:
                self.dotted.append(name)
        rng = random.Random(SEED)
        for size in (0, 1, 7, 1000, 70_001):
            key = f"{MARKER}-r{size}"
            data = (payload(rng.randbytes(size)))[:size]
            for bucket in (self.main, self.public):
                response = http.post(f"/object/{bucket}/{key}", content=data,
                                     headers={"Content-Type": "application/octet-stream"})
                assert response.status_code == 200, response.text
            self.objects[key] = data
        image = io.BytesIO()
        Image.new("RGB", (24, 16), (200, 30, 30)).save(image, "PNG")
        self.image = image.getvalue()
        for bucket in (self.main, self.public):
            assert http.post(f"/object/{bucket}/img.png", content=self.image,
                             headers={"Content-Type": "image/png"}).status_code == 200
            assert http.post(f"/object/{bucket}/img.txt", content=payload(),
                             headers={"Content-Type": "text/plain"}).status_code == 200
        self.sign_tokens = {}
        for key in [*self.objects, "img.png"]:
            response = http.post(f"/object/sign/{self.main}/{key}", json={"expiresIn": 3600})
            self.sign_tokens[key] = response.json()["signedURL"].split("token=")[1]
        self.upload_token = http.post(f"/object/upload/sign/{self.main}/{MARKER}-signed-up").json()["token"]
        self.tus_token = http.post(f"/object/upload/sign/{self.main}/{MARKER}-tus-signed",
                                   headers={"x-upsert": "true"}).json()["token"]

    def buckets(self):
        """Bucket names: the arena's, dotted ones, missing, invalid and route keywords."""
        return st.one_of(
            st.sampled_from([self.main, self.main, self.public, *self.dotted]),
            st.sampled_from(["list", "list-v2", "sign", "info", "public", "authenticated", "upload", "copy", "move",
                             "b" * 101, "b" * 100, " lead", "trail ", f"{MARKER}-missing", "x--table-s3", "%",
                             "a/b", "a\\b", "\x00", "..%2f", "é"]),
            st.text(max_size=12),
        )


@pytest.fixture(scope="module")
def wire(server, tmp_path_factory):
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    findings = server.log_path.parent / "fuzz-findings.jsonl"
    instance = Wire(server, findings)
    instance.started = time.time()
    yield instance
    instance.pool.close()


@pytest.fixture(scope="module")
def arena(server, service, wire):
    before = {row[0] for row in server.sql("select id from storage.buckets")}
    with bucket_factory(service) as make:
        instance = Arena(wire, make, server)
        instance.preexisting = before
        yield instance
        terminate_tus_uploads(instance)
        for name in fuzz_created_buckets(instance):
            instance.http.post(f"/bucket/{path_segment(name)}/empty")
            instance.http.delete(f"/bucket/{path_segment(name)}")
        instance.http.close()


def fuzz_created_buckets(arena: Arena) -> list[str]:
    """Buckets that exist now and did not before the arena (the dotted ones and any the fuzz made)."""
    now = {row[0] for row in arena.server.sql("select id from storage.buckets")}
    return sorted(now - arena.preexisting - {arena.main, arena.public, arena.scratch})


def terminate_tus_uploads(arena: Arena):
    for location in sorted(arena.wire.tus_locations):
        path = urllib.parse.urlsplit(location).path
        arena.http.delete(arena.server.root_url + path, headers={"Tus-Resumable": "1.0.0"})
    arena.wire.tus_locations.clear()


def run_area(wire: Wire, area: str, body):
    """Runs one area's Hypothesis test and fails with every finding it recorded."""
    wire.area = area
    assert wire.server.process.poll() is None, "the server is not running (see the earlier failure)"
    started = time.time()
    body()
    elapsed = time.time() - started
    findings = wire.area_findings(area)
    expected = max(1, int(EXAMPLES[area] * SCALE))
    assert wire.sent[area] >= expected, f"{area}: only {wire.sent[area]} requests for {expected} examples"
    assert not findings, (f"{len(findings)} findings in {area} ({wire.sent[area]} requests, {elapsed:.0f}s, seed "
                          f"{SEED}):\n" + "\n".join(format_finding(f) for f in findings[:25]))


def format_finding(finding: dict) -> str:
    return (f"[{finding['kind']}] {finding['detail']} (HTTP {finding['status']})\n  {finding['request']}\n"
            f"  -> {finding['response']!r}")


# Area 1: keys and bucket names on every object route

KEYED_ROUTES = ["upload", "upload", "upsert", "put", "get", "get", "head", "authenticated", "public", "info",
                "info-authenticated", "info-public", "info-head", "delete", "sign", "upload-sign", "signed-get",
                "signed-put", "render"]


def test_keys_and_bucket_names(wire, arena):
    """Traversal, absolute, unicode, NUL, overlong and deep keys, and invalid bucket names, on every
    object route, in four URL spellings. An upload that succeeds must download the same bytes."""

    @fuzz_settings("keys", 1)
    @given(route=st.sampled_from(KEYED_ROUTES), bucket=arena.buckets(), key=keys, mount=mounts,
           bucket_encoding=path_encodings, key_encoding=path_encodings, extra=st.binary(max_size=64))
    def run(route, bucket, key, mount, bucket_encoding, key_encoding, extra):
        path = f"{encode_path(bucket, bucket_encoding)}/{encode_path(key, key_encoding)}"
        body = payload(extra)
        method, target, headers = {
            "upload": ("POST", f"/object/{path}", []),
            "upsert": ("POST", f"/object/{path}", [("x-upsert", "true")]),
            "put": ("PUT", f"/object/{path}", []),
            "get": ("GET", f"/object/{path}", []),
            "head": ("HEAD", f"/object/{path}", []),
            "authenticated": ("GET", f"/object/authenticated/{path}", []),
            "public": ("GET", f"/object/public/{path}", []),
            "info": ("GET", f"/object/info/{path}", []),
            "info-authenticated": ("GET", f"/object/info/authenticated/{path}", []),
            "info-public": ("GET", f"/object/info/public/{path}", []),
            "info-head": ("HEAD", f"/object/info/{path}", []),
            "delete": ("DELETE", f"/object/{path}", []),
            "sign": ("POST", f"/object/sign/{path}", [("Content-Type", "application/json")]),
            "upload-sign": ("POST", f"/object/upload/sign/{path}", []),
            "signed-get": ("GET", f"/object/sign/{path}?token={arena.sign_tokens[f'{MARKER}-r7']}", []),
            "signed-put": ("PUT", f"/object/upload/sign/{path}?token={arena.upload_token}", []),
            "render": ("GET", f"/render/image/authenticated/{path}?width=8", []),
        }[route]
        if route == "sign":
            body = b'{"expiresIn": 60}'
        elif method not in ("POST", "PUT"):
            body = b""
        else:
            headers.append(("Content-Type", "application/octet-stream"))
        reply = wire.send(method, mount + target, headers, body)
        if reply is not None and reply.status == 200 and route in ("upload", "upsert", "put"):
            check_round_trip(wire, mount + target, body)
        if reply is not None and reply.status == 200 and route == "upload-sign":
            # Use the signed upload URL for the same odd key, then read the object back.
            token = reply.json()["token"]
            uploaded = wire.send("PUT", f"{mount}/object/upload/sign/{path}?token={token}",
                                 [("Content-Type", "text/plain")], payload(extra), token=None)
            if uploaded is not None and uploaded.status == 200:
                check_round_trip(wire, f"{mount}/object/{path}", payload(extra))

    run_area(wire, "keys", run)


def key_path(key: str) -> str:
    """A key in a URL path, every segment percent-encoded (`.` and `..` too), so the server sees it as is."""
    return "/".join(path_segment(segment) for segment in key.split("/"))


def check_round_trip(wire: Wire, target: str, body: bytes):
    """What an upload stored must come back from the same URL, byte for byte."""
    reply = wire.send("GET", target)
    if reply is not None and (reply.status, reply.body) != (200, body):
        request = {"method": "GET", "target": wire_target(target), "headers": [], "body": b""}
        wire.finding("round trip", request, reply, f"uploaded {len(body)} bytes, got HTTP {reply.status} "
                                                   f"with {len(reply.body)} bytes")


# Area 2: JWTs


def test_jwts(wire, arena):
    """Unsigned (`alg: none`), wrongly signed (HS384/HS512, other keys, RS256 header over an HMAC),
    garbage, huge (100 KB+), expired, not-yet-valid, role-less and odd-role tokens, on routes of
    every kind: bucket, upload, reads that fall back to anonymous, list, sign, empty, TUS, render; and
    signed-URL tokens of every kind (other secrets, no exp, render tokens) on the ?token= routes."""
    fixture = f"{MARKER}-r7"
    routes = [
        ("GET", "/bucket", None), ("GET", f"/bucket/{arena.main}", None),
        ("POST", "/bucket", "create"), ("PUT", f"/bucket/{arena.scratch}", b'{"public": false}'),
        ("POST", f"/bucket/{arena.scratch}/empty", b""),
        ("POST", f"/object/{arena.main}/{MARKER}-jwt", "upload"),
        ("GET", f"/object/{arena.main}/{fixture}", None), ("GET", f"/object/authenticated/{arena.main}/{fixture}", None),
        ("GET", f"/object/info/{arena.main}/{fixture}", None), ("HEAD", f"/object/{arena.main}/{fixture}", None),
        ("GET", f"/object/public/{arena.public}/{fixture}", None),
        ("POST", f"/object/list/{arena.main}", b'{"prefix": ""}'), ("POST", f"/object/list-v2/{arena.main}", b"{}"),
        ("POST", f"/object/sign/{arena.main}/{fixture}", b'{"expiresIn": 60}'),
        ("POST", f"/object/upload/sign/{arena.main}/{MARKER}-jwt-sign", b""),
        ("DELETE", f"/object/{arena.main}/{MARKER}-absent", None),
        ("POST", "/object/copy", json.dumps({"bucketId": arena.main, "sourceKey": fixture,
                                             "destinationKey": f"{MARKER}-jwt-copy"}).encode()),
        ("POST", "/upload/resumable", "tus"), ("GET", "/health", None),
        ("GET", f"/render/image/authenticated/{arena.main}/img.png?width=8", None),
        # URL tokens (issue 11): only the URL-signing secret, `exp` required, render tokens render only.
        ("GET", f"/object/sign/{arena.main}/{fixture}?token={{token}}", None),
        ("PUT", f"/object/upload/sign/{arena.main}/{MARKER}-url-up?token={{token}}", "upload"),
        ("GET", f"/render/image/sign/{arena.main}/img.png?token={{token}}", None),
    ]

    @fuzz_settings("jwt", 2)
    @given(route=st.sampled_from(routes), authorization=authorization_headers(), mount=mounts,
           apikey=st.sampled_from([None, ANON_KEY, "junk"]), n=st.integers(0, 10**6),
           url_token=url_token_kinds(f"{arena.main}/{fixture}"))
    def run(route, authorization, mount, apikey, n, url_token):
        method, target, body = route
        target = target.replace("{token}", urllib.parse.quote(url_token, safe=""))
        headers = list(authorization) + ([("apikey", apikey)] if apikey else [])
        if body == "create":
            body = json.dumps({"name": f"{MARKER}-jwt-{n}"}).encode()
        elif body == "upload":
            target, body = f"{target}-{n}", payload()
            headers.append(("x-upsert", "true"))
        elif body == "tus":
            body = b""
            headers += [("Tus-Resumable", "1.0.0"), ("Upload-Length", "5"),
                        ("Upload-Metadata", tus_metadata(bucketName=arena.main, objectName=f"{MARKER}-jwt-tus-{n}"))]
        if body and method != "GET":
            headers.append(("Content-Type", "application/json" if body[:1] == b"{" else "application/octet-stream"))
        wire.send(method, mount + target, headers, body or b"", token=None)

    run_area(wire, "jwt", run)


# Area 3: multipart bodies

FIELDS = ["cacheControl", "contentType", "metadata", "userMetadata", "file", "", "name", "x" * 300]


@st.composite
def multipart_bodies(draw):
    """A multipart/form-data request body and its Content-Type, malformed in chosen ways."""
    boundary = draw(st.one_of(st.sampled_from(["b0undary", "x", "-", "==", "a b", "\"quoted\"", "B" * 70, "B" * 200,
                                               "", "é", "--", "bound;ary"]),
                              st.text(alphabet="abcXYZ0123'()+_,-./:=? ", min_size=1, max_size=70)))
    line_end = draw(st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"]))
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["field", "field", "file", "file", "junk"]))
        name = draw(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)))
        headers = []
        if kind == "junk":
            headers += draw(st.lists(st.one_of(st.sampled_from([
                b"Content-Disposition", b"Content-Disposition: ", b"Content-Disposition: form-data",
                b"Content-Disposition: attachment; name=file", b"no colon here", b": empty name",
                b"Content-Type: text/plain; charset=\"", b"X-Huge: " + b"h" * 100_000, b"Content-Length: -5",
                b"Content-Disposition: form-data; name=file; filename=../../" + MARKER.encode(),
                b"Content-Disposition: form-data; name*=UTF-8''%E2%9C%93; filename*=UTF-8''%00" + MARKER.encode(),
            ]),
                # Around the 16 KiB cap on a part's header block (issue 11), alone or in many lines.
                st.integers(15_800, 16_600).map(lambda n: b"X-Edge: " + b"e" * n),
                st.integers(100, 400).map(lambda n: b"\r\n".join([b"X-Line: " + b"l" * 60] * n)),
            ), max_size=3))
        else:
            filename = draw(st.one_of(st.none(), st.sampled_from(["f.txt", "", "../../" + MARKER, "/tmp/" + MARKER,
                                                                  "a\"b", "a\\\"b", "\x00"]), st.text(max_size=15)))
            disposition = f'Content-Disposition: form-data; name="{name}"'
            if kind == "file" or filename is not None:
                disposition += f'; filename="{filename or ""}"'
            headers.append(disposition.encode("utf-8", "surrogatepass"))
            if draw(st.booleans()):
                headers.append(b"Content-Type: " + draw(st.sampled_from(
                    [b"text/plain", b"image/png", b"", b";", b"a/b/c", b"text/html", b"x" * 2000, b"*/*"])))
        if kind == "field" and name in ("cacheControl", "contentType", "metadata", "userMetadata"):
            value = draw(st.one_of(junk.map(lambda v: json.dumps(v)), junk_text, st.sampled_from(
                ["3600", "-1", "1e9", "99999999999999999999", "{\"a\":1}", "{", "[]", "text/plain"]),
                st.integers(1_000_000, 1_200_000).map(lambda n: '{"a":"' + "x" * n + '"}'),
                # Metadata shapes (issue 11): strings that once became one key per character,
                # arrays, and objects on either side of the 64 KiB bound.
                st.integers(1, 200_000).map(lambda n: json.dumps("s" * n)),
                st.lists(st.integers(), max_size=50).map(json.dumps),
                st.integers(65_400, 65_600).map(lambda n: json.dumps({"k": "v" * n}))))
            content = value.encode("utf-8", "surrogatepass")
        else:
            content = payload(draw(st.binary(max_size=200)))
        parts.append(line_end.join(headers) + line_end + line_end + content)
    delimiter = b"--" + boundary.encode("utf-8", "surrogatepass")
    body = draw(st.sampled_from([b"", b"preamble" + line_end]))
    for part in parts:
        body += delimiter + line_end + part + line_end
    body += draw(st.sampled_from([delimiter + b"--" + line_end, delimiter + b"--", delimiter, b"", delimiter + b"-",
                                  delimiter + b"--epilogue junk", b"--" + b"other--"]))
    header_boundary = draw(st.sampled_from([boundary, boundary, f'"{boundary}"', "other", ""]))
    content_type = draw(st.sampled_from([
        "multipart/form-data; boundary={}", "multipart/form-data; boundary={}", "Multipart/Form-Data; BOUNDARY={}",
        "multipart/form-data; charset=utf-8; boundary={}", "multipart/form-data", "multipart/mixed; boundary={}",
        "multipart/form-data; boundary={}; boundary=second", "multipart/form-data;boundary ={}",
    ])).format(header_boundary)
    return content_type, body


def test_multipart_bodies(wire, arena):
    """Malformed boundaries, missing closing delimiters, huge and odd part headers, several files,
    junk cacheControl/contentType/metadata fields, on POST and PUT uploads and signed uploads."""

    @fuzz_settings("multipart", 3)
    @given(form=multipart_bodies(), method=st.sampled_from(["POST", "POST", "PUT", "SIGNED"]),
           bucket=st.sampled_from([arena.main, arena.public]), n=st.integers(0, 10**9), mount=mounts)
    def run(form, method, bucket, n, mount):
        content_type, body = form
        target = f"{mount}/object/{bucket}/{MARKER}-mp-{n}"
        if method == "SIGNED":
            method, target = "PUT", f"{mount}/object/upload/sign/{arena.main}/{MARKER}-signed-up?token={arena.upload_token}"
        reply = wire.send(method, target, [("Content-Type", content_type)], body)
        if reply is not None and reply.status == 200 and "SIGNED" not in target:
            # Whatever part was taken as the file, the object must be readable.
            wire.send("GET", target)

    run_area(wire, "multipart", run)


# Area 4: Range headers

CANONICAL_RANGE = re.compile(r"bytes=([0-9]{1,15})-([0-9]{0,15})|bytes=-([0-9]{1,15})")


def expected_range(header: str, size: int):
    """For a canonical single byte range: (first, last) to serve, or 'unsatisfiable'; else None."""
    match = CANONICAL_RANGE.fullmatch(header)
    if not match:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        count = int(suffix)
        return (max(0, size - count), size - 1) if count > 0 and size > 0 else "unsatisfiable"
    first = int(first)
    if last and int(last) < first:
        return None  # inverted: not a valid range, ignored
    if first >= size:
        return "unsatisfiable"
    return first, min(int(last), size - 1) if last else size - 1


range_headers = st.one_of(
    st.tuples(st.integers(0, 80_000), st.integers(0, 80_000)).map(lambda r: f"bytes={r[0]}-{r[1]}"),
    st.integers(0, 80_000).map(lambda n: f"bytes={n}-"),
    st.integers(0, 80_000).map(lambda n: f"bytes=-{n}"),
    st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100)), min_size=2, max_size=5).map(
        lambda rs: "bytes=" + ",".join(f"{a}-{b}" for a, b in rs)),
    st.sampled_from(["bytes=", "bytes=-", "bytes=--1", "bytes=-0", "bytes=0--1", "bytes=a-b", "bytes=1-a", "bytes 0-1",
                     "bytes=0-1-2", "BYTES=0-1", "bytes = 0-1", "bytes=\t0-1", "items=0-1", "bytes=0x10-0x20",
                     "bytes=1e3-", "bytes=+1-2", "bytes=0-18446744073709551616", "bytes=18446744073709551615-",
                     "bytes=-9223372036854775808", "bytes=9223372036854775807-9223372036854775807",
                     "bytes=999999999999999999-", "bytes=" + "9" * 40 + "-", "bytes=0-" + "9" * 40,
                     "bytes=0-0,-1", "bytes=," * 50, "", "=", "bytes=½-1", "bytes=٣-٤"]),
    st.integers(-2**80, 2**80).map(lambda n: f"bytes={n}-"),
    st.tuples(st.integers(-2**80, 2**80), st.integers(-2**80, 2**80)).map(lambda r: f"bytes={r[0]}-{r[1]}"),
    st.text(max_size=40),
    st.text(alphabet="bytes=-0123456789, ", max_size=30),
)


def test_range_headers(wire, arena):
    """Valid, inverted, multi-range, garbage and huge ranges on objects of 0 to 70 001 bytes, on the
    plain, authenticated, public and signed download routes: 206 serves exactly the asked bytes,
    200 the whole object, 416 only when the range cannot be satisfied."""

    @fuzz_settings("range", 4)
    @given(key=st.sampled_from(sorted(arena.objects)), route=st.sampled_from(["plain", "authenticated", "public", "signed"]),
           header=range_headers, method=st.sampled_from(["GET", "GET", "GET", "HEAD"]), mount=mounts,
           extra=st.sampled_from([[], [], [("If-Range", '"junk"')], [("If-None-Match", "*")],
                                  [("Range", "bytes=0-0")], [("If-Range", "Tue, 99 Foo 2000")]]))
    def run(key, route, header, method, mount, extra):
        data = arena.objects[key]
        target = mount + {
            "plain": f"/object/{arena.main}/{key}",
            "authenticated": f"/object/authenticated/{arena.main}/{key}",
            "public": f"/object/public/{arena.public}/{key}",
            "signed": f"/object/sign/{arena.main}/{key}?token={arena.sign_tokens[key]}",
        }[route]
        headers = [("Range", header)] + extra
        if route == "signed":
            method = "GET"  # signed downloads have no HEAD route
        reply = wire.send(method, target, headers, token=None if route in ("public", "signed") else SERVICE_KEY)
        if reply is None:
            return
        sent = header_value(header).decode("utf-8", "replace")
        problem = range_problem(reply, method, sent, data, exact=not extra)
        if problem:
            request = {"method": method, "target": wire_target(target),
                       "headers": [(name, header_value(value)) for name, value in headers], "body": b""}
            wire.finding("range", request, reply, problem)

    run_area(wire, "range", run)


def range_problem(reply: Reply, method: str, header: str, data: bytes, exact: bool):
    """What is wrong with a download's answer to a Range header, or None.

    200 must carry the whole object and 206 exactly the bytes its Content-Range names. For a GET
    with one canonical range (`exact`) the outcome is known: 206 with those bytes, or 416. HEAD
    may ignore ranges (RFC 9110 defines them for GET only).
    """
    size = len(data)
    expected = expected_range(header, size) if exact and method == "GET" else None
    if reply.status == 200:
        if method == "GET" and reply.body != data:
            return f"200 with {len(reply.body)} bytes of {size}"
        if expected is not None:
            return f"200 for {header!r} (expected {'416' if expected == 'unsatisfiable' else f'206 {expected}'})"
        return None
    if reply.status == 206:
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", reply.headers.get("content-range", ""))
        if not match:
            return f"206 with Content-Range {reply.headers.get('content-range')!r}"
        first, last, total = map(int, match.groups())
        if total != size or not first <= last < size:
            return f"206 with Content-Range {reply.headers['content-range']!r} for {size} bytes"
        if method == "GET" and reply.body != data[first:last + 1]:
            return f"206 body is not bytes {first}-{last}"
        if expected is not None and expected != (first, last):
            return f"206 {first}-{last} for {header!r} (expected {expected})"
        return None
    if reply.status == 416:
        if isinstance(expected, tuple):
            return f"416 for the satisfiable range {header!r} (expected 206 {expected})"
        return None
    if reply.status == 304 and not exact:
        return None
    return f"unexpected HTTP {reply.status} for an existing object"


# Area 5: TUS headers


def tus_metadata(**values) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode('utf-8', 'surrogatepass')).decode()}"
                    for key, value in values.items())


NOT_UTF8_BASE64 = base64.b64encode(b"\xff\xfe").decode()
tus_versions = st.sampled_from(["1.0.0", "1.0.0", "1.0.0", "0.2.2", "1.0", "", "1.0.0, 0.2.2", "2.0.0", "junk", None])
tus_numbers = st.one_of(
    st.integers(0, 200).map(str),
    st.sampled_from(["-1", "-0", "+5", "05", " 5", "5 ", "0x10", "1e3", "abc", "", "5.0", "١٢", "9223372036854775807",
                     "9223372036854775808", "18446744073709551616", "9" * 40, "-9223372036854775808", "5,5"]),
    st.integers(-2**70, 2**70).map(str),
)


@st.composite
def tus_metadata_headers(draw, arena: Arena):
    """Upload-Metadata and the object name it names in the arena's bucket (None when it does not):
    well-formed, traversal names, junk values, malformed base64 and pairs."""
    style = draw(st.sampled_from(["valid", "valid", "traversal", "traversal", "junk-values", "malformed", "raw"]))
    bucket = draw(st.one_of(st.just(arena.main), arena.buckets()))
    name = draw(keys)
    if style in ("valid", "traversal"):
        name = f"{MARKER}-tus-{draw(st.integers(0, 10**9))}" if style == "valid" else draw(
            st.one_of(traversal_keys, absolute_keys))
        return tus_metadata(bucketName=arena.main, objectName=name, contentType=draw(
            st.sampled_from(["text/plain", "image/png", "application/octet-stream"]))), name
    if style == "junk-values":
        values = {"bucketName": bucket, "objectName": name}
        for field in draw(st.lists(st.sampled_from(["contentType", "cacheControl", "metadata", "filetype", ""]),
                                   max_size=4)):
            values[field] = draw(junk.map(lambda v: v if isinstance(v, str) else json.dumps(v)))
        return tus_metadata(**values), None
    if style == "malformed":
        good = base64.b64encode(name.encode("utf-8", "surrogatepass")).decode()
        return draw(st.sampled_from([
            "bucketName @@@,objectName !!!", f"bucketName,objectName {good}", "bucketName", ",,,", " ", "",
            f"bucketName {base64.b64encode(arena.main.encode()).decode()[:-1]},objectName {good}",
            f"bucketName {b64url(arena.main.encode())},objectName {good}",
            f"bucketName  {base64.b64encode(arena.main.encode()).decode()},objectName {good}",
            f"bucketName {base64.b64encode(arena.main.encode()).decode()},objectName {good},objectName {good}",
            f"bucketName {NOT_UTF8_BASE64},objectName {good}",
            f"bucketName {base64.b64encode(arena.main.encode()).decode()},objectName {good} extra",
            f"bucketName {base64.b64encode(arena.main.encode()).decode()},objectName " + "QUFB" * 5000,
        ])), None
    return draw(st.text(max_size=60)), None


tus_checksums = st.one_of(
    st.none(),
    st.sampled_from(["sha256", "sha256 ", "sha256 !!!", "md5 AAAA", "crc32 AAAAAA==", "sha1 " + "A" * 28,
                     "sha256 " + base64.b64encode(b"x" * 32).decode(), "SHA256 abc", "sha512 abc", " ", "sha256 =",
                     "md5 " + "A" * 1000]),
    st.text(max_size=30),
)


@st.composite
def tus_steps(draw):
    """One request on an upload: PATCH with odd headers, HEAD, GET, DELETE, OPTIONS."""
    method = draw(st.sampled_from(["PATCH", "PATCH", "PATCH", "HEAD", "GET", "DELETE", "OPTIONS", "POST"]))
    headers = []
    version = draw(tus_versions)
    if version is not None:
        headers.append(("Tus-Resumable", version))
    body = b""
    if method == "PATCH":
        offset = draw(st.one_of(st.integers(0, 12).map(str), tus_numbers, st.none()))
        if offset is not None:
            headers.append(("Upload-Offset", offset))
        headers.append(("Content-Type", draw(st.sampled_from([
            "application/offset+octet-stream", "application/offset+octet-stream", "application/octet-stream",
            "text/plain", "", "application/offset+octet-stream; charset=utf-8", "APPLICATION/OFFSET+OCTET-STREAM",
            "multipart/form-data; boundary=x"]))))
        checksum = draw(tus_checksums)
        if checksum is not None:
            headers.append(("Upload-Checksum", checksum))
        if draw(st.integers(0, 4)) == 0:
            headers.append(("Upload-Length", draw(tus_numbers)))
        body = payload(draw(st.binary(max_size=40)))[:draw(st.integers(0, 80))]
    return method, headers, body


def test_tus_headers(wire, arena):
    """TUS creation with odd versions, lengths, metadata, checksums and upsert flags; then PATCH
    with wrong content types, negative, huge and non-numeric offsets and lengths, chunks beyond the
    length, and HEAD/GET/DELETE, on real uploads, garbage ids and the signed variant. Half of the
    examples create a well-formed upload first (some with traversal names) so the odd steps meet a
    real upload; some finish it properly, and the object must then read back."""

    @fuzz_settings("tus", 5)
    @given(well_formed=st.booleans(), version=tus_versions,
           length=st.one_of(st.integers(0, 60).map(str), tus_numbers, st.none()),
           defer=st.sampled_from([None, None, None, "1", "0", "2", "x"]), metadata=tus_metadata_headers(arena),
           upsert=st.sampled_from([None, "true", "false", "TRUE", "1", ""]), signed=st.sampled_from([False, False, True]),
           signature=st.sampled_from(["valid", "missing", "junk", "jwt"]),
           first_chunk=st.one_of(st.none(), st.binary(max_size=80)), checksum=tus_checksums,
           steps=st.lists(tus_steps(), max_size=3), upload_id=st.sampled_from(["created", "created", "garbage"]),
           garbage_id=st.one_of(st.text(max_size=40), st.sampled_from(["", "..", "%2e%2e", "AAAA", "_-_-"]),
                                keys.map(lambda k: b64url(f"main/{k}/{uuid.uuid4()}".encode())),
                                st.integers(1, 5000).map(lambda n: "A" * n)),
           good_length=st.integers(0, 120), good_name=st.one_of(
               st.integers(0, 10**9).map(lambda n: f"{MARKER}-tus-{n}"), traversal_keys, absolute_keys),
           mount=mounts, complete=st.booleans())
    def run(well_formed, version, length, defer, metadata, upsert, signed, signature, first_chunk, checksum, steps,
            upload_id, garbage_id, good_length, good_name, mount, complete):
        metadata, name = metadata
        if well_formed:
            version, length, defer, first_chunk, signature, upload_id = "1.0.0", str(good_length), None, None, "valid", "created"
            name = f"{MARKER}-tus-signed" if signed else good_name
            metadata = tus_metadata(bucketName=arena.main, objectName=name, contentType="text/plain")
        base = f"{mount}/upload/resumable" + ("/sign" if signed else "")
        headers = []
        token = SERVICE_KEY
        if signed:
            token = None
            headers += {"valid": [("x-signature", arena.tus_token)], "missing": [], "junk": [("x-signature", "a.b.c")],
                        "jwt": [("x-signature", SERVICE_KEY)]}[signature]
        create = list(headers)
        for field, value in [("Tus-Resumable", version), ("Upload-Length", length), ("Upload-Defer-Length", defer),
                             ("Upload-Metadata", metadata), ("x-upsert", upsert)]:
            if value is not None:
                create.append((field, value))
        body = b""
        if first_chunk is not None:
            body = payload(first_chunk)[:len(first_chunk)]
            create.append(("Content-Type", "application/offset+octet-stream"))
            if checksum is not None:
                create.append(("Upload-Checksum", checksum))
        reply = wire.send("POST", base, create, body, token=token)
        location = reply.headers.get("location") if reply is not None and reply.status == 201 else None
        if upload_id == "garbage" or location is None:
            target = f"{base}/{garbage_id}"
        else:
            target = mount + urllib.parse.urlsplit(location).path.removeprefix("/storage/v1")
        whole = re.fullmatch(r"[1-9][0-9]{0,2}|0", length or "") and defer is None and first_chunk is None
        if location and complete and whole and name is not None and version == "1.0.0":
            # Finish the upload properly: the object must then read back, whatever its name.
            data = (payload(b"t" * 200))[:int(length)]
            done = wire.send("PATCH", target, headers + [("Tus-Resumable", "1.0.0"), ("Upload-Offset", "0"), (
                "Content-Type", "application/offset+octet-stream")], data, token=token, expect_tus=True)
            if done is not None and done.status == 204:
                check_round_trip(wire, f"{mount}/object/{arena.main}/{key_path(name)}", data)
        for method, step_headers, step_body in steps:
            wire.send(method, target, headers + step_headers, step_body, token=token, expect_tus=True)

    run_area(wire, "tus", run)


# Area 6: JSON bodies and query strings

JSON_ROUTES = ["list", "list-v2", "copy", "move", "copy-to", "move-to", "sign", "sign-many", "delete-many", "bucket-create",
               "bucket-update", "render", "render-public", "render-sign", "signed-get", "bucket-list", "bucket-get"]


@st.composite
def json_documents(draw, valid_fields: dict):
    """A JSON document built from a route's fields, each valid or junk, or junk outright; or bytes."""
    style = draw(st.sampled_from(["fields", "fields", "fields", "junk", "bytes"]))
    if style == "junk":
        return draw(json_values)
    if style == "bytes":
        return draw(st.one_of(st.binary(max_size=60), st.sampled_from([b"", b"{", b'{"a":', b"[]", b"{}}", b"\xff\xfe{}",
                                                                      b'{"prefix": "\\ud800"}', b"{" * 5000,
                                                                      b'{"a":1,"a":2}', b"nul", b"1e999999"]),
                                   st.integers(1_050_000, 1_200_000).map(lambda n: b'{"pad":"' + b"x" * n + b'"}')))
    document = {}
    for field, valid in valid_fields.items():
        choice = draw(st.sampled_from(["valid", "valid", "junk", "absent"]))
        if choice == "valid":
            document[field] = draw(valid)
        elif choice == "junk":
            document[field] = draw(junk)
    return document


def test_json_bodies_and_queries(wire, arena):
    """Junk JSON to list v1/v2, copy, move, sign, bulk sign, bulk delete, bucket create and update;
    junk query parameters to render and signed downloads."""
    fixture = f"{MARKER}-r7"
    bucket_ids = st.one_of(st.sampled_from([arena.main, arena.public]), arena.buckets())
    object_keys = st.one_of(st.sampled_from([fixture, "img.png"]), keys)
    sort = st.fixed_dictionaries({"column": st.sampled_from(["name", "updated_at", "created_at", "last_accessed_at", "id"])},
                                 optional={"order": st.sampled_from(["asc", "desc", "ASC", "sideways"])})
    sizes = st.one_of(st.integers(), st.floats(), st.sampled_from(
        ["20mb", "1.2345MB", "5GB", "0B", "-1MB", "1e3KB", " 1MB", "MB", "9" * 30 + "GB", "99999999999999999999"]))
    fields = {
        "list": {"prefix": st.one_of(st.just(""), st.just(MARKER), keys), "limit": st.integers(-5, 3000),
                 "offset": st.integers(-5, 10**6), "sortBy": sort, "search": junk_text},
        "list-v2": {"prefix": st.one_of(st.just(MARKER), keys), "limit": st.integers(-5, 3000),
                    "cursor": st.one_of(junk_text, st.lists(st.text(max_size=20), max_size=4).map(
                        lambda parts: base64.b64encode("\n".join(parts).encode("utf-8", "surrogatepass")).decode())),
                    "with_delimiter": st.booleans(), "sortBy": sort},
        "copy": {"bucketId": bucket_ids, "sourceKey": object_keys, "destinationKey": keys,
                 "destinationBucket": bucket_ids,
                 "metadata": st.fixed_dictionaries({}, optional={"cacheControl": junk, "mimetype": junk}),
                 "copyMetadata": st.one_of(st.booleans(), junk)},
        "move": {"bucketId": bucket_ids, "destinationKey": keys, "destinationBucket": bucket_ids},
        "sign": {"expiresIn": st.one_of(st.integers(), st.sampled_from(["60", "1e3", "-1", "0", "9" * 30])),
                 "transform": st.fixed_dictionaries({}, optional={k: junk for k in ("width", "height", "resize",
                                                                                    "format", "quality")})},
        "sign-many": {"expiresIn": st.integers(-10, 10**12), "paths": st.one_of(
            st.lists(object_keys, max_size=5), st.lists(junk, max_size=5),
            st.integers(999, 1003).map(lambda n: [fixture] * n))},
        "delete-many": {"prefixes": st.one_of(st.lists(st.one_of(keys, junk), max_size=5),
                                              st.integers(999, 1003).map(lambda n: [f"{MARKER}-{i}" for i in range(n)]))},
        "bucket-create": {"name": st.one_of(st.integers(0, 10**6).map(lambda n: f"{MARKER}-{n}"), arena.buckets()),
                          "id": st.one_of(st.integers(0, 10**6).map(lambda n: f"{MARKER}-id-{n}"), junk_text),
                          "public": st.booleans(), "file_size_limit": sizes,
                          "allowed_mime_types": st.lists(st.one_of(st.sampled_from(
                              ["image/*", "text/plain", "*/*", "a/b;charset=x", "x" * 1001, ""]), junk_text), max_size=4),
                          "type": st.sampled_from(["STANDARD", "ANALYTICS", "VECTOR", "standard"])},
        "bucket-update": {"public": st.booleans(), "file_size_limit": sizes,
                          "allowed_mime_types": st.lists(st.sampled_from(["image/*", "text/plain", "", "x/y"]),
                                                         max_size=3)},
    }
    documents = {route: json_documents(spec) for route, spec in fields.items()}
    query_values = st.one_of(junk_text, st.integers(-10**20, 10**20).map(str), st.sampled_from(
        ["0", "1", "2000", "2001", "cover", "contain", "fill", "origin", "avif", "webp", "jpeg", "fp", "ce", "0.5", "1.5"]))
    queries = st.dictionaries(st.sampled_from(["width", "height", "resize", "format", "quality", "gravity", "x_offset",
                                               "y_offset", "download", "token", "width[]", "", "%", "search",
                                               "sortColumn", "sortOrder", "limit", "offset"]),
                              query_values, max_size=6)

    @fuzz_settings("json", 6)
    @given(route=st.sampled_from(JSON_ROUTES), data=st.data(), query=queries,
           content_type=st.sampled_from(["application/json", "application/json", "application/json; charset=utf-8",
                                         "text/plain", None, "application/x-www-form-urlencoded"]),
           upsert=st.sampled_from([None, None, "true", "junk"]), x_metadata=st.one_of(st.sampled_from(
               [None, None, "!!!", base64.b64encode(b"[1,2]").decode()]), json_values.map(
               lambda value: base64.b64encode(json.dumps(value).encode()).decode())),
           mount=mounts, n=st.integers(0, 10**9))
    def run(route, data, query, content_type, upsert, x_metadata, mount, n):
        headers = [(name, value) for name, value in [("Content-Type", content_type), ("x-upsert", upsert),
                                                     ("x-metadata", x_metadata)] if value is not None]
        query_string = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
        if route.startswith("render") or route in ("signed-get", "bucket-list", "bucket-get"):
            path = {
                "render": f"/render/image/authenticated/{arena.main}/{data.draw(st.sampled_from(['img.png', 'img.txt', fixture]))}",
                "render-public": f"/render/image/public/{arena.public}/img.png",
                "render-sign": f"/render/image/sign/{arena.main}/img.png",
                "signed-get": f"/object/sign/{arena.main}/img.png",
                "bucket-list": "/bucket",
                "bucket-get": f"/bucket/{encode_path(data.draw(arena.buckets()), data.draw(path_encodings))}",
            }[route]
            if route in ("render-sign", "signed-get") and "token" not in query:
                query_string += f"&token={arena.sign_tokens['img.png']}"
            wire.send("GET", f"{mount}{path}?{query_string}", headers)
            return
        if route in ("copy-to", "move-to"):
            copy_or_move_to(wire, arena, route, data.draw(keys), data.draw(st.sampled_from(
                [arena.main, arena.main, arena.public, *arena.dotted])), mount, n)
            return
        document = data.draw(documents[route])
        method, path = {
            "list": ("POST", f"/object/list/{arena.main}"), "list-v2": ("POST", f"/object/list-v2/{arena.main}"),
            "copy": ("POST", "/object/copy"), "move": ("POST", "/object/move"),
            "sign": ("POST", f"/object/sign/{arena.main}/{fixture}"), "sign-many": ("POST", f"/object/sign/{arena.main}"),
            "delete-many": ("DELETE", f"/object/{arena.scratch}"), "bucket-create": ("POST", "/bucket"),
            "bucket-update": ("PUT", f"/bucket/{arena.scratch}"),
        }[route]
        if route == "move":
            # A fresh object to move, so every move has a real source.
            source = f"{MARKER}-mv-{n}"
            wire.send("POST", f"{mount}/object/{arena.main}/{source}", [], payload())
            if isinstance(document, dict):
                document.setdefault("sourceKey", source)
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        wire.send(method, mount + path, headers, body)

    run_area(wire, "json", run)


def copy_or_move_to(wire: Wire, arena: Arena, route: str, destination: str, bucket: str, mount: str, n: int):
    """A valid copy or move to an odd key (traversal, absolute, unicode, …): when it succeeds the
    destination must hold the source's bytes."""
    if route == "copy-to":
        source, data = f"{MARKER}-r7", arena.objects[f"{MARKER}-r7"]
    else:
        source, data = f"{MARKER}-mv-{n}", payload(str(n).encode())
        wire.send("POST", f"{mount}/object/{arena.main}/{source}", [("x-upsert", "true")], data)
    document = {"bucketId": arena.main, "sourceKey": source, "destinationKey": destination,
                "destinationBucket": bucket}
    reply = wire.send("POST", f"{mount}/object/{route.removesuffix('-to')}",
                      [("Content-Type", "application/json"), ("x-upsert", "true")], json.dumps(document).encode())
    if reply is not None and reply.status == 200:
        check_round_trip(wire, f"{mount}/object/{path_segment(bucket)}/{key_path(destination)}", data)


# After the run


def test_server_healthy_and_nothing_outside_the_root(server, wire, arena, capsys):
    """The server still runs and answers, a normal upload round-trips, every bucket the run used is
    consistent, no file the run wrote is outside the storage root, and at least 10 000 requests
    were sent (all areas)."""
    assert server.process.poll() is None, "the server is not running"
    terminate_tus_uploads(arena)
    http = arena.http
    health = http.get("/health")
    assert (health.status_code, health.json()["healthy"]) == (200, True), health.text
    data = payload(os.urandom(4096))
    assert http.post(f"/object/{arena.main}/{MARKER}-after", content=data).status_code == 200
    download = http.get(f"/object/{arena.main}/{MARKER}-after")
    assert (download.status_code, download.content) == (200, data)

    for bucket in [arena.main, arena.public, arena.scratch, *fuzz_created_buckets(arena)]:
        assert_consistent(server, bucket)
    if MODE == "file":
        assert files_outside_root(server, wire.started) == []
        assert misplaced_inside_root(server) == []
    else:
        assert misplaced_backend_keys(server) == []

    total = sum(wire.sent.values())
    histogram = collections.Counter()
    for (_, status), count in wire.statuses.items():
        histogram[status] += count
    summary = (f"fuzz: mode {MODE}, seed {SEED}, scale {SCALE}, {total} requests in {time.time() - wire.started:.0f}s "
               f"({dict(wire.sent)}), {wire.waiting:.0f}s waiting for the server, not sendable {wire.refused_locally}, findings {len(wire.findings)}, "
               f"statuses {dict(sorted(histogram.items(), key=lambda item: str(item[0])))}")
    with capsys.disabled():
        print("\n" + summary)
    by_area = "\n".join(f"  {area}: {dict(sorted((s, c) for (a, s), c in wire.statuses.items() if a == area))}"
                        for area in wire.sent)
    (server.log_path.parent / "fuzz-summary.txt").write_text(summary + "\n" + by_area + "\n")
    assert set(wire.sent) >= set(EXAMPLES), f"run the whole module: {summary}"
    assert total >= REQUIRED_REQUESTS, summary


def escape_segment(segment: str) -> str:
    """The file backend's spelling of one key segment (FilePathMapping)."""
    return {"": "%", ".": "%2E", "..": "%2E%2E"}.get(segment, segment.replace("%", "%25"))


def assert_consistent(server, bucket: str):
    """`Server.assert_consistent`, with the file backend's escaping of `""`, `.`, `..` and `%` segments,
    and SeaweedFS's listing of keys with empty segments (`a//b` is stored, read and deleted under
    its own key but listed as `a/b`)."""
    if MODE != "file":
        rows = server.sql("select name, version from storage.objects where bucket_id = %s", bucket)
        collapse = lambda key: re.sub("/+", "/", key)
        prefix = f"{TENANT}/{bucket}"
        expected = {collapse(f"{prefix}/{name}/{version}") for name, version in rows}
        stored = {collapse(location.key) for location in server.all_files(bucket)}
        assert stored == expected, f"{bucket}: bytes without a row: {stored - expected}; rows without bytes: {expected - stored}"
        assert server.temporary_files() == []
        return
    if not needs_escaping(server, bucket):
        server.assert_consistent(bucket)
        return
    rows = server.sql("select name, version from storage.objects where bucket_id = %s", bucket)
    directory = server.storage_dir / BACKEND_BUCKET / TENANT / escape_segment(bucket)
    expected = {directory.joinpath(*map(escape_segment, f"{name}/{version}".split("/"))) for name, version in rows}
    stored = {p for p in directory.rglob("*") if p.is_file()} if directory.exists() else set()
    assert stored == expected, f"{bucket}: bytes without a row: {stored - expected}; rows without bytes: {expected - stored}"
    assert server.temporary_files() == []


def needs_escaping(server, bucket: str) -> bool:
    names = [bucket] + [row[0] for row in server.sql("select name from storage.objects where bucket_id = %s", bucket)]
    return any(escape_segment(part) != part for name in names for part in name.split("/"))


def files_outside_root(server, since: float) -> list[str]:
    """Paths named with the marker, or new files holding it, outside the storage root: the server's
    folder, every ancestor of the root, /tmp and the server's working directory."""
    root = server.storage_dir.resolve()
    marker = MARKER.encode()
    skip = {root, server.log_path.resolve(), (server.log_path.parent / "fuzz-findings.jsonl").resolve()}
    # The harness's own Postgres and SeaweedFS: Postgres logs refused statements, marker and all.
    if os.environ.get("COMPAT_HARNESS_DIR"):
        skip.add(pathlib.Path(os.environ["COMPAT_HARNESS_DIR"]).resolve())
    found = []

    def look(path: pathlib.Path):
        if path in skip:
            return
        if MARKER in path.name:
            found.append(str(path))
            return
        try:
            stat = path.lstat()
            if path.is_file() and not path.is_symlink() and stat.st_mtime >= since and stat.st_size <= 4 * 2**20:
                if marker in path.read_bytes():
                    found.append(str(path))
        except OSError:
            pass

    for ancestor in root.parents:
        for entry in ancestor.iterdir():
            look(entry)
    for top in (root.parent, pathlib.Path("/tmp")):
        for directory, subdirectories, files in os.walk(top):
            subdirectories[:] = [d for d in subdirectories if pathlib.Path(directory, d).resolve() not in skip]
            for name in subdirectories + files:
                look(pathlib.Path(directory, name))
    cwd = pathlib.Path(f"/proc/{server.process.pid}/cwd").resolve()
    for entry in cwd.iterdir():
        look(entry)
    return sorted(set(found))


def misplaced_inside_root(server) -> list[str]:
    """Marker paths inside the root that are not in a bucket folder, the temporary, resumable or
    render folders of the backend."""
    root = server.storage_dir
    buckets = {escape_segment(row[0]) for row in server.sql("select id from storage.buckets")}
    misplaced = []
    for path in root.rglob(f"*{MARKER}*"):
        parts = path.relative_to(root).parts
        if parts[0] == ".tmp" or parts[:2] in {(BACKEND_BUCKET, "__resumable"), (BACKEND_BUCKET, "__render")}:
            continue
        if parts[:2] == (BACKEND_BUCKET, TENANT) and len(parts) >= 3 and parts[2] in buckets:
            continue
        misplaced.append(str(path))
    return misplaced


def misplaced_backend_keys(server) -> list[str]:
    """Self-hosted mode: marker keys in the backend bucket outside the tenant's bucket folders."""
    buckets = {row[0] for row in server.sql("select id from storage.buckets")}
    keys, token = [], None
    while True:
        page = server.s3.list_objects_v2(Bucket=server.backend_bucket, **({"ContinuationToken": token} if token else {}))
        keys += [item["Key"] for item in page.get("Contents", []) if MARKER in item["Key"]]
        token = page.get("NextContinuationToken")
        if not token:
            break
    allowed = tuple(f"{TENANT}/{bucket}/" for bucket in buckets) + ("__resumable/", "__render/")
    return [key for key in keys if not key.startswith(allowed)]
