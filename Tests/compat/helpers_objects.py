"""Small helpers shared by the object and wire-level suites (raw HTTP paths, uploads, hashes)."""

import base64
import hashlib
import json
import re
import urllib.parse
import uuid

import httpx

from conftest import service_headers

# What yarl (storage3) leaves unencoded in a path segment; everything else is percent-encoded.
PATH_SAFE = "/!$&'()*+,;=:@"
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ENVELOPE_KEYS = ["statusCode", "error", "message", "code"]


def is_envelope(response: httpx.Response, status: str | None = None) -> bool:
    """The body is the Supabase error envelope (and, given `status`, answered with that status)."""
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict) or not set(ENVELOPE_KEYS) <= body.keys():
        return False
    return status is None or (response.status_code == int(status) and body["statusCode"] == status)


def unique(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe=PATH_SAFE)


def object_path(bucket: str, key: str, route: str = "object") -> str:
    """`/object/<bucket>/<key>` (or another route prefix) with the key percent-encoded."""
    return f"/{route}/{quote(bucket)}/{quote(key)}"


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def x_metadata(document) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def raw_upload(http: httpx.Client, bucket: str, key: str, data, method: str = "POST",
               headers: dict | None = None) -> httpx.Response:
    """A non-multipart upload with the service key; `data` may be bytes or an iterator (chunked)."""
    return http.request(method, object_path(bucket, key), content=data, headers=service_headers(**(headers or {})))


def assert_envelope(response: httpx.Response, status: str, error: str, code: str, message: str | None = None,
                    http_status: int = 400) -> dict:
    """The Supabase error envelope: keys in upstream order, string statusCode, legacy HTTP status."""
    assert response.status_code == http_status, response.text
    body = response.json()
    assert list(body) == ENVELOPE_KEYS, body
    assert (body["statusCode"], body["error"], body["code"]) == (status, error, code), body
    if message is not None:
        assert body["message"] == message
    return body
