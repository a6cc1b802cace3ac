"""Bucket API through storage3 (contract §4) and its error paths."""

import uuid

import pytest
from storage3.exceptions import StorageApiError

from conftest import ANON_KEY, GLOBAL_LIMIT, service_headers, user_token


def unique(prefix="bk"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_create_get_list_update_delete(server, service):
    name = unique()
    assert service.create_bucket(name, options={"public": True, "file_size_limit": 1024,
                                                "allowed_mime_types": ["image/png", "text/plain"]}) == {"name": name}
    bucket = service.get_bucket(name)
    assert (bucket.id, bucket.name, bucket.public, bucket.file_size_limit) == (name, name, True, 1024)
    assert bucket.allowed_mime_types == ["image/png", "text/plain"]
    assert bucket.owner == ""
    assert name in {b.id for b in service.list_buckets()}

    assert service.update_bucket(name, {"public": False, "file_size_limit": "20mb", "allowed_mime_types": None}) == {
        "message": "Successfully updated"}
    bucket = service.get_bucket(name)
    assert (bucket.public, bucket.file_size_limit, bucket.allowed_mime_types) == (False, 20_000_000, None)
    row = server.sql("select public, file_size_limit, allowed_mime_types from storage.buckets where id = %s", name)
    assert row == [(False, 20_000_000, None)]

    assert service.empty_bucket(name) == {"message": "Empty bucket has been queued. Completion may take up to an hour."}
    assert service.delete_bucket(name) == {"message": "Successfully deleted"}
    with pytest.raises(StorageApiError) as error:
        service.get_bucket(name)
    assert (error.value.status, error.value.code) == ("404", "Bucket not found")
    assert server.sql("select 1 from storage.buckets where id = %s", name) == []


def test_bucket_json_shape(http, bucket):
    listed = http.get("/bucket", headers=service_headers()).json()
    item = next(b for b in listed if b["id"] == bucket)
    assert list(item) == ["id", "name", "owner", "public", "type", "file_size_limit", "allowed_mime_types",
                          "created_at", "updated_at"]
    assert item["type"] == "STANDARD"
    assert item["created_at"].endswith("Z") and len(item["created_at"]) == 24
    single = http.get(f"/bucket/{bucket}", headers=service_headers()).json()
    assert "type" not in single


def test_list_options(http, service):
    names = [unique("sort-a"), unique("sort-b"), unique("sort-c")]
    for name in names:
        service.create_bucket(name)
    try:
        response = http.get("/bucket", params={"search": "SORT-", "sortColumn": "name", "sortOrder": "desc",
                                               "limit": 2, "offset": 0}, headers=service_headers())
        assert response.status_code == 200
        listed = [b["name"] for b in response.json()]
        assert len(listed) == 2 and listed == sorted(listed, reverse=True)
        bad = http.get("/bucket", params={"sortColumn": "owner"}, headers=service_headers())
        assert bad.status_code == 400 and bad.json()["code"] == "InvalidRequest"
    finally:
        for name in names:
            service.delete_bucket(name)


def test_old_python_clients_get_no_type(http, bucket):
    headers = service_headers(**{"x-client-info": "supabase-py/2.17.0"})
    item = next(b for b in http.get("/bucket", headers=headers).json() if b["id"] == bucket)
    assert "type" not in item


def test_owner_is_the_callers_sub(server, http):
    sub = str(uuid.uuid4())
    name = unique()
    server.sql("create policy compat_create_buckets on storage.buckets for insert to authenticated with check (true)")
    try:
        response = http.post("/bucket", json={"name": name}, headers={"Authorization": f"Bearer {user_token(sub)}"})
        assert response.status_code == 200, response.text
        assert server.sql("select owner::text, owner_id from storage.buckets where id = %s", name) == [(sub, sub)]
    finally:
        server.sql("drop policy compat_create_buckets on storage.buckets")
        server.sql("delete from storage.buckets where id = %s", name)


def test_duplicate_bucket(server, service, bucket):
    with pytest.raises(StorageApiError) as error:
        service.create_bucket(bucket)
    assert (error.value.status, error.value.code) == ("409", "Duplicate")
    assert server.sql("select count(*) from storage.buckets where id = %s", bucket) == [(1,)]


@pytest.mark.parametrize("name", ["", " lead", "trail ", "a/b", "emoji-\u00e9", "x" * 101, "tab\tname", "pct%20"])
def test_invalid_bucket_names(server, http, name):
    response = http.post("/bucket", json={"name": name}, headers=service_headers())
    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == "400" and body["code"] in ("InvalidBucketName", "InvalidRequest")
    assert server.sql("select 1 from storage.buckets where name = %s", name) == []


def test_missing_bucket_everywhere(service):
    missing = unique("missing")
    for call in (lambda: service.get_bucket(missing),
                 lambda: service.update_bucket(missing, {"public": True}),
                 lambda: service.delete_bucket(missing),
                 lambda: service.empty_bucket(missing)):
        with pytest.raises(StorageApiError) as error:
            call()
        assert (error.value.status, error.value.code) == ("404", "Bucket not found")


def test_delete_non_empty_bucket(server, service, bucket):
    service.from_(bucket).upload("keep.txt", b"x")
    with pytest.raises(StorageApiError) as error:
        service.delete_bucket(bucket)
    assert (error.value.status, error.value.code) == ("409", "ResourceNotEmpty")
    assert server.sql("select 1 from storage.buckets where id = %s", bucket) == [(1,)]
    assert server.object_row(bucket, "keep.txt") is not None


def test_size_limit_formats(server, http, service):
    name = unique()
    for value, expected in [("1.2345MB", 1_230_000), ("3B", 3), ("30kb", 30_000), (1024, 1024), (None, None)]:
        service.create_bucket(name, options={"file_size_limit": value} if value is not None else None)
        assert server.sql("select file_size_limit from storage.buckets where id = %s", name) == [(expected,)]
        service.delete_bucket(name)
    bad = http.post("/bucket", json={"name": name, "file_size_limit": "20 potatoes"}, headers=service_headers())
    assert bad.status_code == 400
    assert bad.json()["message"] == "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B"
    too_big = http.post("/bucket", json={"name": name, "file_size_limit": GLOBAL_LIMIT + 1}, headers=service_headers())
    assert too_big.status_code == 400 and too_big.json()["statusCode"] == "413"
    bad_mime = http.post("/bucket", json={"name": name, "allowed_mime_types": ["not a type"]}, headers=service_headers())
    assert bad_mime.status_code == 400 and bad_mime.json()["statusCode"] == "415"
    assert server.sql("select 1 from storage.buckets where id = %s", name) == []


def test_update_with_nothing_to_change(http, bucket):
    response = http.put(f"/bucket/{bucket}", json={"id": bucket, "name": bucket}, headers=service_headers())
    assert response.status_code == 400
    assert response.json()["message"] == "No content provided"


def test_anon_sees_no_buckets_without_policies(server, anon, bucket):
    assert bucket not in {b.id for b in anon.list_buckets()}
    with pytest.raises(StorageApiError) as error:
        anon.get_bucket(bucket)
    assert error.value.status == "404"
    with pytest.raises(StorageApiError) as error:
        anon.create_bucket(unique())
    assert (error.value.status, error.value.code) == ("403", "Unauthorized")


def test_anon_key_empties_under_rls(server, anon, service, bucket):
    """Contract §4: empty runs under RLS as the caller, so anon removes only what it may."""
    files = service.from_(bucket)
    files.upload("a/mine.txt", b"1")
    files.upload("b/theirs.txt", b"2")
    # DDL takes no bind parameters; the bucket name is generated by the fixture.
    server.sql("create policy compat_anon_empty_select on storage.objects for select to anon "
               f"using (bucket_id = '{bucket}' and (storage.foldername(name))[1] = 'a')")
    server.sql("create policy compat_anon_empty_delete on storage.objects for delete to anon "
               f"using (bucket_id = '{bucket}' and (storage.foldername(name))[1] = 'a')")
    server.sql("create policy compat_anon_empty_bucket on storage.buckets for select to anon using (true)")
    try:
        assert anon.empty_bucket(bucket)["message"].startswith("Empty bucket")
    finally:
        server.sql("drop policy compat_anon_empty_select on storage.objects")
        server.sql("drop policy compat_anon_empty_delete on storage.objects")
        server.sql("drop policy compat_anon_empty_bucket on storage.buckets")
    assert server.object_row(bucket, "a/mine.txt") is None
    assert server.object_row(bucket, "b/theirs.txt") is not None
    server.assert_consistent(bucket)
