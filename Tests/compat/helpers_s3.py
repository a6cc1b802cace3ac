"""Clients of the `/s3` endpoint, shared by the S3 protocol, processing and event tests."""

import boto3
from botocore.config import Config

from conftest import S3_PROTOCOL_KEY, S3_PROTOCOL_SECRET


def s3_endpoint(server, mount: str = "/s3") -> str:
    return server.root_url + mount


def protocol_client(server, key=S3_PROTOCOL_KEY, secret=S3_PROTOCOL_SECRET, token=None, mount="/s3", **config):
    return boto3.client(
        "s3", endpoint_url=s3_endpoint(server, mount), region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config))


# Hand-made aws-chunked bodies: the Java and Go SDKs send signed chunks, and boto3 and the AWS CLI
# send checksum trailers over HTTPS; over plain HTTP botocore does neither, so the suite builds both.

import base64
import datetime
import hashlib
import hmac
import urllib.parse
import zlib

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign_request(method: str, url: str, headers: dict, payload_hash: str, key=S3_PROTOCOL_KEY, secret=S3_PROTOCOL_SECRET,
                 region="us-east-1"):
    """SigV4 header signing: returns (headers with Authorization, signing key, seed signature, timestamp, scope)."""
    parts = urllib.parse.urlsplit(url)
    now = datetime.datetime.now(datetime.timezone.utc)
    timestamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    signed = {name.lower(): str(value).strip() for name, value in headers.items()}
    signed.update({"host": parts.netloc, "x-amz-date": timestamp, "x-amz-content-sha256": payload_hash})
    names = sorted(signed)
    canonical = "\n".join([
        method, urllib.parse.quote(parts.path, safe="/-_.~"), parts.query,
        "".join(f"{name}:{signed[name]}\n" for name in names), ";".join(names), payload_hash])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signing_key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key}/{scope},SignedHeaders={';'.join(names)},"
                               f"Signature={signature}")
    del signed["host"]
    return signed, signing_key, signature, timestamp, scope


def signed_chunked_put(http_put, url: str, data: bytes, chunk_size=64 * 1024, tamper=False, decoded_length=None):
    """PUT `data` as STREAMING-AWS4-HMAC-SHA256-PAYLOAD; `tamper` flips a byte after signing."""
    headers, key, previous, timestamp, scope = sign_request(
        "PUT", url, {"content-encoding": "aws-chunked",
                     "x-amz-decoded-content-length": str(len(data) if decoded_length is None else decoded_length)},
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = b""
    chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for chunk in chunks:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, previous, EMPTY_SHA256,
                             hashlib.sha256(chunk).hexdigest()])
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        body += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + chunk + b"\r\n"
    if tamper:
        index = body.index(b"\r\n") + 10
        body = body[:index] + bytes([body[index] ^ 1]) + body[index + 1:]
    return http_put(url, content=body, headers=headers)


def unsigned_trailer_put(http_put, url: str, data: bytes, chunk_size=64 * 1024, crc=None):
    """PUT `data` as STREAMING-UNSIGNED-PAYLOAD-TRAILER with an x-amz-checksum-crc32 trailer."""
    value = crc or base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    headers, *_ = sign_request(
        "PUT", url, {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                     "x-amz-trailer": "x-amz-checksum-crc32"},
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    body = b""
    for i in range(0, len(data), chunk_size):
        chunk = data[i:i + chunk_size]
        body += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    body += f"0\r\nx-amz-checksum-crc32:{value}\r\n\r\n".encode()
    return http_put(url, content=body, headers=headers)
