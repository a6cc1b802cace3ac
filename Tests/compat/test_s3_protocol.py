"""The S3 protocol endpoint (`/s3`, spec §5.13) driven by boto3 as users run it: default
checksums on (aws-chunked bodies with CRC trailers or checksum headers), path-style addressing.

Every test checks real outcomes: bytes read back through the other API, rows in storage.objects
and storage.s3_multipart_uploads, and what is left in the backend.
"""

import datetime
import hashlib
import os
import time
import uuid

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import MODE, S3_PROTOCOL_KEY, S3_PROTOCOL_SECRET, TENANT, ANON_KEY, service_headers, user_token
from helpers_rls import policies  # noqa: F401 (fixture)
from helpers_s3 import protocol_client, s3_endpoint

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def s3(server):
    return protocol_client(server)


def error_of(excinfo) -> tuple[str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def multipart_rows(server, bucket):
    return server.sql("select id, key from storage.s3_multipart_uploads where bucket_id = %s", bucket)


def assert_no_parts_left(server, bucket, key):
    """No upload row, no part rows and no parts in the backend for this key."""
    assert multipart_rows(server, bucket) == []
    assert server.sql("select id from storage.s3_multipart_uploads_parts where bucket_id = %s", bucket) == []
    if MODE == "file":
        area = server.storage_dir / "stub" / "__s3multipart"
        assert not area.exists() or list(area.rglob("*")) == [], list(area.rglob("*"))
    else:
        uploads = server.s3.list_multipart_uploads(Bucket=server.backend_bucket).get("Uploads", [])
        assert [u["Key"] for u in uploads if f"/{bucket}/{key}/" in u["Key"]] == []


# Buckets


def test_bucket_lifecycle_is_shared_with_the_rest_api(server, s3, service):
    name = f"s3b-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    assert service.get_bucket(name).name == name
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") in (None, "", "us-east-1")
    assert s3.get_bucket_versioning(Bucket=name).get("Status") is None
    with pytest.raises(ClientError) as excinfo:
        s3.create_bucket(Bucket=name)
    assert error_of(excinfo) == ("BucketAlreadyExists", 409)
    s3.put_object(Bucket=name, Key="x", Body=b"x")
    with pytest.raises(ClientError) as excinfo:
        s3.delete_bucket(Bucket=name)
    assert error_of(excinfo) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="x")
    s3.delete_bucket(Bucket=name)
    assert server.sql("select id from storage.buckets where id = %s", name) == []
    with pytest.raises(ClientError) as excinfo:
        s3.head_bucket(Bucket=name)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_the_storage_v1_mount_serves_the_same_endpoint(server, bucket):
    client = protocol_client(server, mount="/storage/v1/s3")
    client.put_object(Bucket=bucket, Key="mounted.txt", Body=b"under storage/v1")
    assert client.get_object(Bucket=bucket, Key="mounted.txt")["Body"].read() == b"under storage/v1"


def test_missing_bucket_and_key_are_s3_errors(s3, bucket):
    with pytest.raises(ClientError) as excinfo:
        s3.list_objects_v2(Bucket="no-such-bucket-" + uuid.uuid4().hex[:6])
    assert error_of(excinfo) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="absent")
    assert error_of(excinfo) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as excinfo:
        s3.head_object(Bucket=bucket, Key="absent")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# Objects


def test_put_then_read_through_rest_with_metadata(server, s3, service, bucket):
    data = os.urandom(300_000)
    response = s3.put_object(
        Bucket=bucket, Key="dir/put.bin", Body=data, ContentType="application/x-test", CacheControl="max-age=60",
        Metadata={"color": "blue"})
    assert response["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
    assert service.from_(bucket).download("dir/put.bin") == data
    _, version, metadata, user_metadata, _, _ = server.object_row(bucket, "dir/put.bin")
    assert metadata["mimetype"] == "application/x-test"
    assert metadata["cacheControl"] == "max-age=60"
    assert metadata["size"] == len(data)
    assert user_metadata == {"color": "blue"}
    server.assert_consistent(bucket)

    head = s3.head_object(Bucket=bucket, Key="dir/put.bin")
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "application/x-test"
    assert head["Metadata"] == {"color": "blue"}


def test_rest_upload_read_through_s3_with_ranges_and_conditionals(s3, service, bucket):
    data = os.urandom(100_000)
    service.from_(bucket).upload("rest.bin", data)
    got = s3.get_object(Bucket=bucket, Key="rest.bin")
    assert got["Body"].read() == data
    etag = got["ETag"]
    part = s3.get_object(Bucket=bucket, Key="rest.bin", Range="bytes=10-19")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["Body"].read() == data[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(data)}"
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="rest.bin", IfNoneMatch=etag)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="rest.bin", IfMatch='"0123"')
    assert error_of(excinfo) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="rest.bin", IfMatch=etag)["Body"].read() == data
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="rest.bin", Range=f"bytes={len(data) + 5}-")
    assert error_of(excinfo) == ("InvalidRange", 416)
    assert s3.get_object_tagging(Bucket=bucket, Key="rest.bin")["TagSet"] == []


def test_put_with_each_checksum_algorithm(server, bucket):
    # CRC32C needs botocore[crt]; its computation is unit-tested on published vectors.
    for algorithm in ["CRC32", "SHA1", "SHA256"]:
        client = protocol_client(server)
        data = os.urandom(70_000)
        client.put_object(Bucket=bucket, Key=f"sum-{algorithm}", Body=data, ChecksumAlgorithm=algorithm)
        assert client.get_object(Bucket=bucket, Key=f"sum-{algorithm}")["Body"].read() == data


def test_wrong_content_md5_stores_nothing(server, s3, bucket):
    import base64
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="bad-md5", Body=b"hello", ContentMD5=base64.b64encode(b"0" * 16).decode())
    assert error_of(excinfo) == ("BadDigest", 400)
    server.assert_nothing_left(bucket, "bad-md5")


def test_copy_with_metadata_directives(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="src.txt", Body=b"copy me", ContentType="text/plain", Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="kept.txt", CopySource={"Bucket": bucket, "Key": "src.txt"})
    kept = s3.head_object(Bucket=bucket, Key="kept.txt")
    assert kept["ContentType"] == "text/plain" and kept["Metadata"] == {"a": "1"}
    s3.copy_object(
        Bucket=bucket, Key="replaced.txt", CopySource={"Bucket": bucket, "Key": "src.txt"},
        MetadataDirective="REPLACE", ContentType="application/x-new", Metadata={"b": "2"})
    replaced = s3.head_object(Bucket=bucket, Key="replaced.txt")
    assert replaced["ContentType"] == "application/x-new" and replaced["Metadata"] == {"b": "2"}
    assert s3.get_object(Bucket=bucket, Key="replaced.txt")["Body"].read() == b"copy me"
    server.assert_consistent(bucket)


def test_delete_and_delete_objects(server, s3, bucket):
    for key in ["d/1", "d/2", "d/3"]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    s3.delete_object(Bucket=bucket, Key="d/1")
    s3.delete_object(Bucket=bucket, Key="d/never")  # idempotent, as in S3
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/2"}, {"Key": "d/3"}, {"Key": "d/absent"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["d/2", "d/3", "d/absent"]
    assert result.get("Errors", []) == []
    assert server.sql("select name from storage.objects where bucket_id = %s", bucket) == []
    server.assert_consistent(bucket)


# Listing


@pytest.fixture
def listed(s3, bucket):
    keys = ["a/1.txt", "a/2.txt", "a/b/3.txt", "c.txt", "d/4.txt", "e.txt", "with space/5.txt"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    return bucket, keys


def test_list_v2_pages_every_key_once(s3, listed):
    bucket, keys = listed
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
    seen = [item["Key"] for page in pages for item in page.get("Contents", [])]
    assert seen == sorted(keys)


def test_list_v2_with_delimiter_and_prefix(s3, listed):
    bucket, _ = listed
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}))
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    assert keys == ["c.txt", "e.txt"]
    assert prefixes == ["a/", "d/", "with space/"]
    inner = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [item["Key"] for item in inner["Contents"]] == ["a/1.txt", "a/2.txt"]
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["a/b/"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="c.txt")
    assert [item["Key"] for item in after["Contents"]] == ["d/4.txt", "e.txt", "with space/5.txt"]
    encoded = s3.list_objects_v2(Bucket=bucket, Prefix="with", EncodingType="url")
    # botocore decodes only the encoding it asked for itself; asked for explicitly, keys stay encoded.
    assert [item["Key"] for item in encoded["Contents"]] == ["with%20space/5.txt"]


def test_list_v1_with_markers(s3, listed):
    bucket, keys = listed
    pages = s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3})
    assert [item["Key"] for page in pages for item in page.get("Contents", [])] == sorted(keys)
    page = s3.list_objects(Bucket=bucket, Marker="a/b/3.txt", MaxKeys=2)
    assert [item["Key"] for item in page["Contents"]] == ["c.txt", "d/4.txt"]
    assert page["IsTruncated"] is True


def test_bad_continuation_token(s3, bucket):
    with pytest.raises(ClientError) as excinfo:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="%%%not-base64")
    assert error_of(excinfo) == ("InvalidArgument", 400)


# Multipart


def test_multipart_upload_by_size(server, s3, service, bucket, tmp_path):
    data = os.urandom(12 * MiB + 123)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=3)
    s3.upload_file(str(path), bucket, "big/file.bin", Config=config, ExtraArgs={"ContentType": "application/x-big"})
    head = s3.head_object(Bucket=bucket, Key="big/file.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')
    assert head["ContentType"] == "application/x-big"
    assert service.from_(bucket).download("big/file.bin") == data
    out = tmp_path / "back.bin"
    s3.download_file(bucket, "big/file.bin", str(out), Config=config)
    assert out.read_bytes() == data
    assert_no_parts_left(server, bucket, "big/file.bin")
    server.assert_consistent(bucket)


def test_multipart_parts_listing_copy_and_abort(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="source.bin", Body=os.urandom(6 * MiB))
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp.bin", Metadata={"m": "1"})
    upload_id = upload["UploadId"]
    first = s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=upload_id, PartNumber=1, Body=os.urandom(5 * MiB))
    copied = s3.upload_part_copy(
        Bucket=bucket, Key="mp.bin", UploadId=upload_id, PartNumber=2, CopySource={"Bucket": bucket, "Key": "source.bin"},
        CopySourceRange="bytes=0-1023")
    parts = s3.list_parts(Bucket=bucket, Key="mp.bin", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 * MiB), (2, 1024)]
    assert parts[0]["ETag"] == first["ETag"] and parts[1]["ETag"] == copied["CopyPartResult"]["ETag"]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp.bin", upload_id)]

    with pytest.raises(ClientError) as excinfo:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="mp.bin", UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"ffff"'}]})
    assert error_of(excinfo) == ("InvalidPart", 400)

    s3.abort_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=upload_id)
    assert_no_parts_left(server, bucket, "mp.bin")
    assert server.object_row(bucket, "mp.bin") is None
    with pytest.raises(ClientError) as excinfo:
        s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=upload_id, PartNumber=3, Body=b"late")
    assert error_of(excinfo) == ("NoSuchUpload", 404)
    server.assert_consistent(bucket)


def test_multipart_complete_keeps_metadata_and_replaces(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="mp2.bin", Body=b"old")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp2.bin", ContentType="text/x-mp", Metadata={"k": "v"})["UploadId"]
    a = os.urandom(5 * MiB)
    b = os.urandom(100)
    etags = [s3.upload_part(Bucket=bucket, Key="mp2.bin", UploadId=upload_id, PartNumber=n, Body=body)["ETag"]
             for n, body in [(1, a), (2, b)]]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp2.bin", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 2, "ETag": etags[1]}]})
    got = s3.get_object(Bucket=bucket, Key="mp2.bin")
    assert got["Body"].read() == a + b
    assert got["ContentType"] == "text/x-mp" and got["Metadata"] == {"k": "v"}
    assert_no_parts_left(server, bucket, "mp2.bin")
    server.assert_consistent(bucket)


# Limits and rules


def test_over_limit_uploads_leave_nothing(server, s3, make_bucket):
    bucket = make_bucket(file_size_limit=6 * MiB)
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="big.bin", Body=os.urandom(6 * MiB + 1))
    assert error_of(excinfo) == ("EntityTooLarge", 413)
    server.assert_nothing_left(bucket, "big.bin")

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp.bin")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=upload_id, PartNumber=1, Body=os.urandom(5 * MiB))
    with pytest.raises(ClientError) as excinfo:
        s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=upload_id, PartNumber=2, Body=os.urandom(2 * MiB))
    assert error_of(excinfo) == ("EntityTooLarge", 413)
    s3.abort_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=upload_id)
    assert_no_parts_left(server, bucket, "mp.bin")
    server.assert_nothing_left(bucket, "mp.bin")


def test_mime_rules_apply(server, s3, make_bucket):
    bucket = make_bucket(allowed_mime_types=["image/png"])
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="t.txt", Body=b"text", ContentType="text/plain")
    assert error_of(excinfo) == ("InvalidRequest", 415)
    with pytest.raises(ClientError) as excinfo:
        s3.create_multipart_upload(Bucket=bucket, Key="t2.txt", ContentType="text/plain")
    assert error_of(excinfo) == ("InvalidRequest", 415)
    s3.put_object(Bucket=bucket, Key="i.png", Body=b"png", ContentType="image/png")
    server.assert_nothing_left(bucket, "t.txt")


# Authentication


def test_wrong_secret_and_unknown_key(server, bucket):
    with pytest.raises(ClientError) as excinfo:
        protocol_client(server, secret="wrong").list_objects_v2(Bucket=bucket)
    assert error_of(excinfo) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as excinfo:
        protocol_client(server, key="nobody").put_object(Bucket=bucket, Key="x", Body=b"x")
    assert error_of(excinfo) == ("InvalidAccessKeyId", 403)
    server.assert_nothing_left(bucket, "x")
    response = httpx.get(s3_endpoint(server) + f"/{bucket}")
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


def test_presigned_urls(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="p.txt", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.txt"}, ExpiresIn=60)
    response = httpx.get(url)
    assert response.content == b"presigned", response.text
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=60)
    assert httpx.put(put_url, content=b"uploaded").status_code == 200
    assert s3.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"uploaded"
    # Tampered: another key under the same signature.
    assert httpx.get(url.replace("p.txt", "up.txt")).status_code == 403


def test_expired_presigned_url(s3, bucket):
    s3.put_object(Bucket=bucket, Key="e.txt", Body=b"soon gone")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    response = httpx.get(url)
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text and "expired" in response.text


def test_session_token_mode_applies_rls(server, service, bucket, policies):
    user = str(uuid.uuid4())
    policies.add("objects", f"for insert to authenticated with check (bucket_id = '{bucket}' and (storage.foldername(name))[1] = auth.uid()::text)")
    policies.add("objects", f"for select to authenticated using (bucket_id = '{bucket}' and (storage.foldername(name))[1] = auth.uid()::text)")
    session = protocol_client(server, key=TENANT, secret=ANON_KEY, token=user_token(sub=user))
    session.put_object(Bucket=bucket, Key=f"{user}/mine.txt", Body=b"mine")
    assert session.get_object(Bucket=bucket, Key=f"{user}/mine.txt")["Body"].read() == b"mine"
    _, _, _, _, owner, owner_id = server.object_row(bucket, f"{user}/mine.txt")
    assert owner_id == user
    with pytest.raises(ClientError) as excinfo:
        session.put_object(Bucket=bucket, Key="someone-else/theirs.txt", Body=b"no")
    assert error_of(excinfo) == ("AccessDenied", 403)
    server.assert_nothing_left(bucket, "someone-else/theirs.txt")
    service.from_(bucket).upload("hidden.txt", b"hidden")
    listed = session.list_objects_v2(Bucket=bucket)
    assert [item["Key"] for item in listed["Contents"]] == [f"{user}/mine.txt"]
    with pytest.raises(ClientError) as excinfo:
        session.get_object(Bucket=bucket, Key="hidden.txt")
    assert error_of(excinfo) == ("NoSuchKey", 404)
    # Without the user's token the tenant key has no identity to act as.
    with pytest.raises(ClientError) as excinfo:
        protocol_client(server, key=TENANT, secret=ANON_KEY).list_objects_v2(Bucket=bucket)
    assert error_of(excinfo) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as excinfo:
        protocol_client(server, key=TENANT, secret=ANON_KEY, token="not-a-jwt").list_objects_v2(Bucket=bucket)
    assert error_of(excinfo) == ("AccessDenied", 403)


# aws-chunked bodies


def test_signed_chunks_stream_and_verify(server, bucket):
    from helpers_s3 import signed_chunked_put
    data = os.urandom(200_000)
    url = s3_endpoint(server) + f"/{bucket}/chunked.bin"
    response = signed_chunked_put(httpx.put, url, data)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"' + hashlib.md5(data).hexdigest() + '"'
    assert protocol_client(server).get_object(Bucket=bucket, Key="chunked.bin")["Body"].read() == data

    response = signed_chunked_put(httpx.put, s3_endpoint(server) + f"/{bucket}/tampered.bin", data, tamper=True)
    assert response.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in response.text
    server.assert_nothing_left(bucket, "tampered.bin")
    # A body longer than its declared decoded length.
    response = signed_chunked_put(httpx.put, s3_endpoint(server) + f"/{bucket}/long.bin", data, decoded_length=1000)
    assert response.status_code == 400, response.text
    server.assert_nothing_left(bucket, "long.bin")


def test_unsigned_chunks_with_a_checksum_trailer(server, bucket):
    from helpers_s3 import unsigned_trailer_put
    data = os.urandom(150_000)
    response = unsigned_trailer_put(httpx.put, s3_endpoint(server) + f"/{bucket}/trailer.bin", data)
    assert response.status_code == 200, response.text
    assert protocol_client(server).get_object(Bucket=bucket, Key="trailer.bin")["Body"].read() == data
    response = unsigned_trailer_put(httpx.put, s3_endpoint(server) + f"/{bucket}/bad-trailer.bin", data, crc="AAAAAA==")
    assert response.status_code == 400 and "<Code>BadDigest</Code>" in response.text
    server.assert_nothing_left(bucket, "bad-trailer.bin")


# Events


def test_s3_changes_write_events(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="ev.txt", Body=b"event")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="ev-mp.bin")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="ev-mp.bin", UploadId=upload_id, PartNumber=1, Body=b"one part")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="ev-mp.bin", UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    s3.copy_object(Bucket=bucket, Key="ev-copy.txt", CopySource={"Bucket": bucket, "Key": "ev.txt"})
    s3.delete_object(Bucket=bucket, Key="ev.txt")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "ev-copy.txt"}]})
    rows = server.sql(
        "select type, name, event->'payload'->>'uploadType' from storage_api.events where bucket_id = %s order by seq",
        bucket)
    assert [row for row in rows if row[0] != "BucketCreated"] == [
        ("ObjectCreated:Put", "ev.txt", "s3"), ("ObjectCreated:Put", "ev-mp.bin", "s3"),
        ("ObjectCreated:Copy", "ev-copy.txt", None), ("ObjectRemoved:Delete", "ev.txt", None),
        ("ObjectRemoved:Delete", "ev-copy.txt", None)]


# Bad multipart and metadata input


def test_multipart_with_an_invalid_key_is_refused_before_anything_exists(server, s3, bucket):
    with pytest.raises(ClientError) as excinfo:
        s3.create_multipart_upload(Bucket=bucket, Key="bad%key.bin")
    assert error_of(excinfo) == ("InvalidKey", 400)
    assert_no_parts_left(server, bucket, "bad%key.bin")
    server.assert_nothing_left(bucket, "bad%key.bin")


def test_small_parts_before_the_last_are_entity_too_small(server, s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="small.bin")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="small.bin", UploadId=upload_id,
                                                      PartNumber=n, Body=os.urandom(100))["ETag"]} for n in (1, 2)]
    with pytest.raises(ClientError) as excinfo:
        s3.complete_multipart_upload(Bucket=bucket, Key="small.bin", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert error_of(excinfo) == ("EntityTooSmall", 400)
    assert server.object_row(bucket, "small.bin") is None
    # The upload is still there, and goes whole on abort.
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="small.bin", UploadId=upload_id)["Parts"]] == [1, 2]
    s3.abort_multipart_upload(Bucket=bucket, Key="small.bin", UploadId=upload_id)
    assert_no_parts_left(server, bucket, "small.bin")
    server.assert_consistent(bucket)


def test_a_part_sent_again_is_the_one_completed(server, s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="again.bin")["UploadId"]
    first = s3.upload_part(Bucket=bucket, Key="again.bin", UploadId=upload_id, PartNumber=1, Body=b"first bytes")["ETag"]
    second = s3.upload_part(Bucket=bucket, Key="again.bin", UploadId=upload_id, PartNumber=1, Body=b"second bytes")["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.complete_multipart_upload(Bucket=bucket, Key="again.bin", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first}]})
    assert error_of(excinfo) == ("InvalidPart", 400)
    s3.complete_multipart_upload(Bucket=bucket, Key="again.bin", UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": second}]})
    assert s3.get_object(Bucket=bucket, Key="again.bin")["Body"].read() == b"second bytes"
    assert_no_parts_left(server, bucket, "again.bin")
    server.assert_consistent(bucket)


def test_metadata_over_s3s_limit_stores_nothing(server, s3, bucket):
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="meta.bin", Body=b"x", Metadata={"big": "m" * 3000})
    assert error_of(excinfo) == ("MetadataTooLarge", 400)
    server.assert_nothing_left(bucket, "meta.bin")
    with pytest.raises(ClientError) as excinfo:
        s3.create_multipart_upload(Bucket=bucket, Key="meta-mp.bin", Metadata={"big": "m" * 3000})
    assert error_of(excinfo) == ("MetadataTooLarge", 400)
    assert_no_parts_left(server, bucket, "meta-mp.bin")
