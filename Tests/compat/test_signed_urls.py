"""Signed download URLs, signed upload URLs and public URLs (contract §5.8, §5.9, §8) through storage3
and raw HTTP."""

import email.utils
import json
import time
import urllib.parse

import httpx
import pytest
from storage3.exceptions import StorageApiError
from storage3.types import CreateSignedUploadUrlOptions

from conftest import ANON_KEY, SERVICE_KEY, b64url, bearer, service_headers, sign_jwt, user_token


def upload(service, bucket, name, data=b"signed bytes", content_type="text/plain"):
    service.from_(bucket).upload(name, data, {"content-type": content_type})
    return data


def token_of(url: str) -> str:
    # Keys may hold "?" and "&", so the token is found from the end.
    return url.rsplit("token=", 1)[1].split("&", 1)[0]


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_storage3_signed_url_round_trip(server, service, bucket):
    data = upload(service, bucket, "folder/a b.txt", b"hello signed world")
    signed = service.from_(bucket).create_signed_url("folder/a b.txt", 60)
    response = httpx.get(signed["signedURL"])
    assert response.status_code == 200
    assert response.content == data
    # Expires instead of the object's Cache-Control (§8).
    assert "cache-control" not in response.headers
    expires = email.utils.parsedate_to_datetime(response.headers["expires"]).timestamp()
    assert abs(expires - (time.time() + 60)) < 5
    claims = claims_of(token_of(signed["signedURL"]))
    assert claims["url"] == f"{bucket}/folder/a b.txt"
    assert claims["scope"] == "download"
    assert claims["exp"] - claims["iat"] == 60
    assert not {"role", "owner", "upsert"} & claims.keys()


def test_storage3_signed_url_with_download(server, service, bucket):
    upload(service, bucket, "report.txt")
    named = service.from_(bucket).create_signed_url("report.txt", 60, {"download": "my report.txt"})
    response = httpx.get(named["signedURL"])
    assert response.headers["content-disposition"] == (
        "attachment; filename=my%20report.txt; filename*=UTF-8''my%20report.txt")
    plain = service.from_(bucket).create_signed_url("report.txt", 60, {"download": True})
    assert httpx.get(plain["signedURL"]).headers["content-disposition"] == "attachment;"


def test_keys_with_reserved_characters_round_trip(server, service, bucket, http):
    name = "odd/a?b&c=d+e,f.txt"
    data = upload(service, bucket, name, b"reserved characters")
    response = http.post(f"/object/sign/{bucket}/{urllib.parse.quote(name, safe='/')}",
                         json={"expiresIn": 60}, headers=service_headers())
    assert response.status_code == 200, response.text
    signed = response.json()["signedURL"]
    token = token_of(signed)
    assert claims_of(token)["url"] == f"{bucket}/{name}"
    fetched = http.get(f"/object/sign/{bucket}/{urllib.parse.quote(name, safe='/')}", params={"token": token})
    assert fetched.status_code == 200
    assert fetched.content == data


def test_bulk_signing_keeps_input_order_and_reports_missing(server, service, bucket):
    upload(service, bucket, "one.txt", b"1")
    upload(service, bucket, "two.txt", b"22")
    results = service.from_(bucket).create_signed_urls(["two.txt", "missing.txt", "one.txt"], 60)
    assert [r["path"] for r in results] == ["two.txt", "missing.txt", "one.txt"]
    assert results[1]["error"] == "Either the object does not exist or you do not have access to it"
    assert results[1]["signedURL"] is None
    assert httpx.get(results[0]["signedURL"]).content == b"22"
    assert httpx.get(results[2]["signedURL"]).content == b"1"


def test_bulk_signing_hides_what_rls_hides(server, service, bucket, http):
    upload(service, bucket, "secret.txt")
    response = http.post(f"/object/sign/{bucket}", json={"expiresIn": 60, "paths": ["secret.txt"]},
                         headers=bearer(user_token("00000000-0000-0000-0000-000000000001")))
    assert response.status_code == 200
    assert response.json() == [{"error": "Either the object does not exist or you do not have access to it",
                                "path": "secret.txt", "signedURL": None}]


def test_signing_requires_visibility_and_valid_input(server, service, bucket, http):
    upload(service, bucket, "a.txt")
    # Invisible under RLS: NoSuchKey, no URL minted.
    hidden = http.post(f"/object/sign/{bucket}/a.txt", json={"expiresIn": 60},
                       headers=bearer(user_token("00000000-0000-0000-0000-000000000001")))
    assert hidden.status_code == 400
    assert hidden.json()["statusCode"] == "404" and hidden.json()["error"] == "not_found"
    missing = http.post(f"/object/sign/{bucket}/nope.txt", json={"expiresIn": 60}, headers=service_headers())
    assert missing.json()["statusCode"] == "404"
    for body in ({}, {"expiresIn": 0}, {"expiresIn": "soon"}):
        bad = http.post(f"/object/sign/{bucket}/a.txt", json=body, headers=service_headers())
        assert bad.status_code == 400, body
        assert bad.json()["statusCode"] == "400"
    # A lifetime that would overflow the token's exp: a clear error, never a crash.
    for path, extra in ((f"/object/sign/{bucket}/a.txt", {}), (f"/object/sign/{bucket}", {"paths": ["a.txt"]})):
        huge = http.post(path, json={"expiresIn": 9223372036854775807, **extra}, headers=service_headers())
        assert huge.status_code == 400
        assert huge.json() == {"statusCode": "400", "error": "InvalidParameter", "code": "InvalidParameter",
                               "message": "Invalid Parameter expiresIn"}
    assert server.process.poll() is None
    empty = http.post(f"/object/sign/{bucket}", json={"expiresIn": 60, "paths": []}, headers=service_headers())
    assert empty.status_code == 400
    with pytest.raises(StorageApiError):
        service.from_(bucket).create_signed_url("nope.txt", 60)


def test_token_errors(server, service, bucket, http):
    upload(service, bucket, "a.txt")
    upload(service, bucket, "b.txt")
    token = token_of(service.from_(bucket).create_signed_url("a.txt", 60)["signedURL"])

    def get(path, token):
        return http.get(f"/object/sign/{bucket}/{path}", params={"token": token})

    assert get("a.txt", token).status_code == 200
    # Another object's path.
    wrong_path = get("b.txt", token)
    assert wrong_path.status_code == 400
    assert wrong_path.json() == {"statusCode": "400", "error": "InvalidSignature", "message": "Invalid signature",
                                 "code": "InvalidSignature"}
    # Tampered payload (url rewritten, signature kept).
    head, _, signature = token.split(".")
    forged = f"{head}.{b64url(json.dumps({'url': f'{bucket}/b.txt', 'exp': int(time.time()) + 60}).encode())}.{signature}"
    tampered = get("b.txt", forged)
    assert tampered.status_code == 400 and tampered.json()["code"] == "InvalidJWT"
    # Expired.
    expired = sign_jwt({"url": f"{bucket}/a.txt", "scope": "download", "iat": 1, "exp": int(time.time()) - 10})
    response = get("a.txt", expired)
    assert response.status_code == 400 and response.json()["code"] == "InvalidJWT"
    # An upload token is not a download token.
    upload_token = sign_jwt({"url": f"{bucket}/a.txt", "scope": "upload", "upsert": False,
                             "exp": int(time.time()) + 60})
    wrong_scope = get("a.txt", upload_token)
    assert wrong_scope.json() == {"statusCode": "400", "error": "InvalidSignature",
                                  "message": "Token is not scoped for download", "code": "InvalidSignature"}
    # Legacy tokens (no scope, no upsert) still download.
    legacy = sign_jwt({"url": f"{bucket}/a.txt", "exp": int(time.time()) + 60})
    assert get("a.txt", legacy).status_code == 200
    # A user's JWT is not a URL token; a missing token is a schema error.
    assert get("a.txt", SERVICE_KEY).status_code == 400
    missing = http.get(f"/object/sign/{bucket}/a.txt")
    assert missing.status_code == 400 and missing.json()["error"] == "Error"


def test_range_and_extra_query_parameters_on_signed_urls(server, service, bucket):
    data = upload(service, bucket, "range.bin", bytes(range(256)) * 4, "application/octet-stream")
    url = service.from_(bucket).create_signed_url("range.bin", 60)["signedURL"]
    partial = httpx.get(url + "&cacheNonce=123", headers={"Range": "bytes=10-19"})
    assert partial.status_code == 206
    assert partial.content == data[10:20]
    assert partial.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert "expires" in partial.headers


def test_signed_url_after_delete_is_not_found(server, service, bucket):
    upload(service, bucket, "gone.txt")
    url = service.from_(bucket).create_signed_url("gone.txt", 60)["signedURL"]
    service.from_(bucket).remove(["gone.txt"])
    response = httpx.get(url)
    assert response.status_code == 400
    assert response.json()["error"] == "not_found"


def test_storage3_signed_upload_url(server, service, bucket):
    files = service.from_(bucket)
    signed = files.create_signed_upload_url("up/photo.txt")
    result = files.upload_to_signed_url("up/photo.txt", signed["token"], b"via signed upload",
                                        {"content-type": "text/plain"})
    assert result.path == "up/photo.txt"
    assert files.download("up/photo.txt") == b"via signed upload"
    # The same non-upsert token again: Duplicate.
    with pytest.raises(StorageApiError) as error:
        files.upload_to_signed_url("up/photo.txt", signed["token"], b"again", {"content-type": "text/plain"})
    assert str(error.value.status) == "409"
    assert files.download("up/photo.txt") == b"via signed upload"
    # An upsert token replaces.
    upsert = files.create_signed_upload_url("up/photo.txt", CreateSignedUploadUrlOptions(upsert="true"))
    files.upload_to_signed_url("up/photo.txt", upsert["token"], b"replaced", {"content-type": "text/plain"})
    assert files.download("up/photo.txt") == b"replaced"
    assert len(server.version_files(bucket, "up/photo.txt")) == 1


def test_signed_upload_token_lifetime_defaults_to_two_hours(server, service, bucket):
    signed = service.from_(bucket).create_signed_upload_url("life.txt")
    claims = claims_of(signed["token"])
    assert claims["exp"] - claims["iat"] == 7200
    assert claims["scope"] == "upload" and claims["upsert"] is False


def test_public_urls_only_on_public_buckets(server, service, make_bucket):
    public = make_bucket(public=True)
    private = make_bucket()
    data = upload(service, public, "avatar.txt", b"public bytes")
    upload(service, private, "avatar.txt", b"private bytes")
    url = service.from_(public).get_public_url("avatar.txt")
    assert url.endswith(f"/object/public/{public}/avatar.txt")
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == data
    assert httpx.head(url).status_code == 200
    assert httpx.get(url.replace("/object/public/", "/object/info/public/")).json()["name"] == "avatar.txt"
    denied = httpx.get(service.from_(private).get_public_url("avatar.txt"))
    assert denied.status_code == 400 and denied.json()["error"] == "Bucket not found"
    # No JWT needed, and a bad one does not matter.
    assert httpx.get(url, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 200
    downloaded = httpx.get(service.from_(public).get_public_url("avatar.txt", {"download": "x.txt"}))
    assert downloaded.headers["content-disposition"].startswith("attachment; filename=x.txt")
