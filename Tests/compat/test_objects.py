"""Object API through storage3 under `/storage/v1` (contract §5.1–§5.7), plus the raw-HTTP forms the
client cannot produce (cross-bucket copy/move, upsert copy, raw bodies, invalid keys).

Every test checks real outcomes: the bytes served back, the rows in `storage.objects` and the
version files in the file backend.
"""

import base64
import hashlib
import os
import random

import pytest
from storage3.exceptions import StorageApiError

from conftest import service_headers
from helpers_objects import ISO_MS, assert_envelope, md5_etag, object_path, raw_upload, unique, x_metadata

TREE = ["docs/a.txt", "docs/B.txt", "docs/sub/c.txt", "docs/sub/d.txt", "docs/z/e.txt", "top.txt"]


@pytest.fixture
def files(service, bucket):
    return service.from_(bucket)


@pytest.fixture
def tree(files):
    """A small folder tree, uploaded in TREE order (so created_at follows that order)."""
    for key in TREE:
        files.upload(key, key.encode())
    return files


def names(entries):
    return [entry["name"] for entry in entries]


# Upload, update, download, info, exists


def test_upload_with_options_round_trips(server, files, bucket):
    data = b"\x89PNG\r\n\x1a\n binary \x00\xff"
    result = files.upload("dir/pic.png", data, {"content-type": "image/png", "cache-control": "60",
                                                 "metadata": {"k": "v", "n": 1}})
    assert (result.path, result.full_path) == ("dir/pic.png", f"{bucket}/dir/pic.png")
    assert files.download("dir/pic.png") == data

    row_id, version, metadata, user_metadata, owner, owner_id = server.object_row(bucket, "dir/pic.png")
    assert user_metadata == {"k": "v", "n": 1}
    assert (owner, owner_id) == (None, None)  # the service key has no sub
    assert metadata["eTag"] == md5_etag(data)
    assert (metadata["size"], metadata["contentLength"], metadata["httpStatusCode"]) == (len(data), len(data), 200)
    assert (metadata["mimetype"], metadata["cacheControl"]) == ("image/png", "max-age=60")
    assert ISO_MS.match(metadata["lastModified"]), metadata["lastModified"]
    stored = server.version_files(bucket, "dir/pic.png")
    assert [p.name for p in stored] == [version] and stored[0].read_bytes() == data

    info = files.info("dir/pic.png")
    assert info["id"] == str(row_id) and info["version"] == version
    assert (info["name"], info["bucket_id"], info["size"]) == ("dir/pic.png", bucket, len(data))
    assert (info["content_type"], info["cache_control"], info["etag"]) == ("image/png", "max-age=60", md5_etag(data))
    assert info["metadata"] == {"k": "v", "n": 1}
    assert ISO_MS.match(info["last_modified"]) and ISO_MS.match(info["created_at"])


def test_upload_defaults(server, files, bucket):
    """storage3 sends cacheControl 3600 and part type text/plain;charset=UTF-8 by default."""
    files.upload("plain.txt", b"hello")
    _, _, metadata, user_metadata, _, _ = server.object_row(bucket, "plain.txt")
    assert metadata["mimetype"] == "text/plain"  # parameters stripped, as busboy reports it
    assert metadata["cacheControl"] == "max-age=3600"
    assert user_metadata == {}


def test_duplicate_upload_without_upsert(server, files, bucket):
    files.upload("dup.txt", b"first")
    before = server.object_row(bucket, "dup.txt")
    with pytest.raises(StorageApiError) as error:
        files.upload("dup.txt", b"second")
    assert (error.value.status, error.value.code) == ("409", "Duplicate")
    assert error.value.message == "The resource already exists"
    assert server.object_row(bucket, "dup.txt") == before
    assert files.download("dup.txt") == b"first"
    server.assert_consistent(bucket)


def test_upsert_replaces_in_place(server, files, bucket):
    files.upload("up.txt", b"old", {"metadata": {"v": 1}})
    old_id, old_version, _, _, _, _ = server.object_row(bucket, "up.txt")
    old_file = server.version_files(bucket, "up.txt")[0]
    (old_updated,) = server.sql("select updated_at from storage.objects where id = %s", old_id)[0]

    files.upload("up.txt", b"new bytes", {"upsert": "true", "content-type": "application/json"})
    new_id, new_version, metadata, user_metadata, _, _ = server.object_row(bucket, "up.txt")
    assert new_id == old_id and new_version != old_version
    assert (metadata["size"], metadata["mimetype"]) == (9, "application/json")
    assert user_metadata == {}  # replaced, not merged
    assert not old_file.exists()
    assert [p.name for p in server.version_files(bucket, "up.txt")] == [new_version]
    (new_updated,) = server.sql("select updated_at from storage.objects where id = %s", old_id)[0]
    assert new_updated > old_updated
    assert files.download("up.txt") == b"new bytes"
    server.assert_consistent(bucket)


def test_update_replaces_and_creates(server, files, bucket):
    created = files.update("fresh.txt", b"made by PUT")
    assert created.full_path == f"{bucket}/fresh.txt"
    assert files.download("fresh.txt") == b"made by PUT"

    row_id, version, _, _, _, _ = server.object_row(bucket, "fresh.txt")
    files.update("fresh.txt", b"replaced", {"cache-control": "10"})
    new_id, new_version, metadata, _, _, _ = server.object_row(bucket, "fresh.txt")
    assert (new_id, metadata["cacheControl"]) == (row_id, "max-age=10") and new_version != version
    assert files.download("fresh.txt") == b"replaced"
    server.assert_consistent(bucket)


def test_exists_and_missing(files, bucket):
    files.upload("here.txt", b"x")
    assert files.exists("here.txt") is True
    assert files.exists("nowhere.txt") is False
    with pytest.raises(StorageApiError) as error:
        files.download("nowhere.txt")
    assert (error.value.status, error.value.code, error.value.message) == ("404", "not_found", "Object not found")
    with pytest.raises(StorageApiError) as error:
        files.info("nowhere.txt")
    assert (error.value.status, error.value.code) == ("404", "not_found")


def test_exists_on_missing_bucket_raises(service):
    """exists() swallows only not_found; a missing bucket is an error (storage3-client §3)."""
    with pytest.raises(StorageApiError) as error:
        service.from_(unique("nobucket")).exists("a.txt")
    assert (error.value.status, error.value.code) == ("404", "Bucket not found")


def test_anon_key_reads(server, anon, service, make_bucket):
    """A valid anon JWT reads public buckets; private ones go through RLS (no policies: not found)."""
    public, private = make_bucket(public=True), make_bucket()
    for name in (public, private):
        service.from_(name).upload("f.txt", b"visible?")
    assert anon.from_(public).download("f.txt") == b"visible?"
    assert anon.from_(public).info("f.txt")["size"] == 8
    assert anon.from_(private).exists("f.txt") is False
    with pytest.raises(StorageApiError) as error:
        anon.from_(private).download("f.txt")
    assert (error.value.status, error.value.code) == ("404", "not_found")


def test_upload_to_missing_bucket(service):
    with pytest.raises(StorageApiError) as error:
        service.from_(unique("nobucket")).upload("a.txt", b"x")
    assert (error.value.status, error.value.code) == ("404", "Bucket not found")


# List v1


def test_list_one_level_relative_names(tree):
    entries = tree.list("docs")
    assert names(entries) == ["a.txt", "B.txt", "sub", "z"]
    assert names(tree.list("docs/")) == names(entries)
    for entry in entries:
        assert list(entry) == ["name", "id", "updated_at", "created_at", "last_accessed_at", "metadata"]
    files_, folders = entries[:2], entries[2:]
    for folder in folders:
        assert all(folder[field] is None for field in ("id", "updated_at", "created_at", "last_accessed_at", "metadata"))
    for entry, key in zip(files_, ["docs/a.txt", "docs/B.txt"]):
        assert entry["id"] and ISO_MS.match(entry["created_at"]) and ISO_MS.match(entry["updated_at"])
        assert entry["metadata"]["size"] == len(key) and entry["metadata"]["mimetype"] == "text/plain"
    assert names(tree.list()) == ["docs", "top.txt"]
    assert names(tree.list("docs/sub")) == ["c.txt", "d.txt"]
    assert tree.list("nothing-here") == []


@pytest.mark.parametrize("options, expected", [
    ({"limit": 2}, ["a.txt", "B.txt"]),
    ({"limit": 2, "offset": 1}, ["B.txt", "sub"]),
    ({"offset": 3}, ["z"]),
    ({"sortBy": {"column": "name", "order": "desc"}}, ["z", "sub", "B.txt", "a.txt"]),
    ({"search": "b"}, ["B.txt"]),  # case-insensitive prefix match on prefix + search
    ({"search": "s"}, ["sub"]),
    ({"search": "zz"}, []),
    ({"sortBy": {"column": "created_at", "order": "asc"}}, ["sub", "z", "a.txt", "B.txt"]),
    ({"sortBy": {"column": "created_at", "order": "desc"}}, ["z", "sub", "B.txt", "a.txt"]),
])
def test_list_options(tree, options, expected):
    assert names(tree.list("docs", options)) == expected


def test_list_folders_differing_in_case_merge(files):
    """Name sort matches and groups case-insensitively (upstream-storage §2.2, surprise 1)."""
    for key in ["Photos/x.png", "photos/y.png", "photo.txt"]:
        files.upload(key, b"x")
    listed = files.list()
    assert [entry["name"].lower() for entry in listed] == ["photo.txt", "photos"]
    assert names(files.list("PHOTOS")) == ["x.png", "y.png"]


# List v2


def walk_v2(files, options):
    """Every page of a list-v2 walk: (pages, folder names, object names)."""
    pages, folders, objects = [], [], []
    cursor = None
    while True:
        page = files.list_v2({**options, **({"cursor": cursor} if cursor else {})})
        pages.append(page)
        folders += [f.name for f in page.folders]
        objects += [o.name for o in page.objects]
        assert (page.nextCursor is not None) == page.hasNext
        if not page.hasNext:
            return pages, folders, objects
        cursor = page.nextCursor
        assert len(pages) < 50, "list-v2 pagination does not terminate"


def test_list_v2_flat(tree):
    result = tree.list_v2({"prefix": "docs/"})
    assert result.hasNext is False and result.nextCursor is None and result.folders == []
    # Full keys, bytewise order (upper case first).
    assert [o.name for o in result.objects] == sorted(k for k in TREE if k.startswith("docs/"))
    assert all(o.id and o.metadata["size"] > 0 for o in result.objects)
    assert [o.name for o in tree.list_v2().objects] == sorted(TREE)
    assert tree.list_v2({"prefix": "docs/s"}).objects[0].name == "docs/sub/c.txt"


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_list_v2_flat_pagination(tree, limit):
    pages, folders, objects = walk_v2(tree, {"limit": limit})
    assert objects == sorted(TREE) and folders == []
    assert len(pages) == -(-len(TREE) // limit)
    assert all(len(p.objects) == limit for p in pages[:-1])


def test_list_v2_with_delimiter(tree):
    root = tree.list_v2({"with_delimiter": True})
    assert [(f.name, f.key) for f in root.folders] == [("docs/", "docs")]
    assert [(o.name, o.key) for o in root.objects] == [("top.txt", "top.txt")]

    docs = tree.list_v2({"prefix": "docs/", "with_delimiter": True})
    assert [(f.name, f.key) for f in docs.folders] == [("docs/sub/", "sub"), ("docs/z/", "z")]
    assert [(o.name, o.key) for o in docs.objects] == [("docs/B.txt", "B.txt"), ("docs/a.txt", "a.txt")]
    assert all(o.id for o in docs.objects) and docs.hasNext is False


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_list_v2_delimiter_pagination_crosses_folders(files, limit):
    for key in ["p/a.txt", "p/b/1.txt", "p/b/2.txt", "p/c.txt", "p/d/x/y.txt", "p/d/z.txt", "p/e.txt", "q/no.txt"]:
        files.upload(key, b"x")
    options = {"prefix": "p/", "with_delimiter": True}
    whole = files.list_v2(options)
    assert [f.name for f in whole.folders] == ["p/b/", "p/d/"]
    assert [o.name for o in whole.objects] == ["p/a.txt", "p/c.txt", "p/e.txt"]
    pages, folders, objects = walk_v2(files, {**options, "limit": limit})
    assert folders == ["p/b/", "p/d/"] and objects == ["p/a.txt", "p/c.txt", "p/e.txt"]
    assert all(len(p.folders) + len(p.objects) == limit for p in pages[:-1])


def test_list_v2_created_at_desc_pagination(files):
    keys = [f"t/{n}.txt" for n in ("m", "a", "z", "b", "k")]
    for key in keys:  # created_at follows upload order
        files.upload(key, b"x")
    options = {"prefix": "t/", "limit": 2, "sortBy": {"column": "created_at", "order": "desc"}}
    pages, _, objects = walk_v2(files, options)
    assert objects == list(reversed(keys)) and len(pages) == 3
    _, _, ascending = walk_v2(files, {**options, "sortBy": {"column": "created_at", "order": "asc"}})
    assert ascending == keys


def test_list_v2_invalid_cursor(http, bucket):
    response = http.post(f"/object/list-v2/{bucket}", json={"cursor": "bm9wZQ=="}, headers=service_headers())
    assert_envelope(response, "400", "InvalidParameter", "InvalidParameter", "Invalid Parameter continuation token")


@pytest.mark.parametrize("after", ["garbage", "2024-13-45T99:00:00.000Z", "now", "2024-01-02 03:04:05"])
@pytest.mark.parametrize("delimiter", [False, True])
def test_list_v2_cursor_with_a_forged_sort_value(http, bucket, after, delimiter):
    """Found in review: a cursor's sort value reached Postgres as a timestamp cast, and text that
    is no timestamp answered 500. The cursor is this server's to issue: anything else is refused."""
    cursor = base64.b64encode(f"l:a\no:asc\nc:created_at\na:{after}".encode()).decode()
    response = http.post(f"/object/list-v2/{bucket}", headers=service_headers(),
                         json={"cursor": cursor, "with_delimiter": delimiter,
                               "sortBy": {"column": "created_at", "order": "asc"}})
    assert_envelope(response, "400", "InvalidParameter", "InvalidParameter", "Invalid Parameter continuation token")


# Copy, move, remove


def test_copy_within_bucket(server, files, bucket):
    files.upload("src.txt", b"copy me", {"content-type": "text/markdown", "metadata": {"m": "1"}})
    source_before = server.object_row(bucket, "src.txt")
    result = files.copy("src.txt", "folder/dst.txt")
    assert result["Key"] == f"{bucket}/folder/dst.txt" and result["name"] == "folder/dst.txt"
    row_id, version, metadata, user_metadata, _, _ = server.object_row(bucket, "folder/dst.txt")
    assert result["Id"] == result["id"] == str(row_id)
    assert row_id != source_before[0] and version != source_before[1]
    assert metadata["mimetype"] == "text/markdown" and metadata["size"] == 7 and user_metadata == {"m": "1"}
    assert metadata["cacheControl"] == source_before[2]["cacheControl"] == "max-age=3600"
    assert metadata["eTag"] == md5_etag(b"copy me") and ISO_MS.match(metadata["lastModified"])
    assert files.download("folder/dst.txt") == b"copy me"
    assert server.object_row(bucket, "src.txt") == source_before
    assert files.download("src.txt") == b"copy me"
    server.assert_consistent(bucket)


def test_move_within_bucket(server, files, bucket):
    files.upload("old/name.txt", b"move me", {"metadata": {"kept": True}})
    row_id, version, _, _, _, _ = server.object_row(bucket, "old/name.txt")
    old_file = server.version_files(bucket, "old/name.txt")[0]
    assert files.move("old/name.txt", "new/name.txt") == {"message": "Successfully moved"}
    assert server.object_row(bucket, "old/name.txt") is None
    assert server.version_files(bucket, "old/name.txt") == [] and not old_file.exists()
    new_id, _, metadata, user_metadata, _, _ = server.object_row(bucket, "new/name.txt")
    assert new_id == row_id and metadata["size"] == 7 and user_metadata == {"kept": True}
    assert files.download("new/name.txt") == b"move me"
    assert files.exists("old/name.txt") is False
    server.assert_consistent(bucket)


def test_remove(server, files, bucket):
    for key in ["r/one.txt", "r/two.txt", "r/keep.txt"]:
        files.upload(key, b"x")
    deleted = files.remove(["r/one.txt", "r/missing.txt", "r/two.txt"])
    assert sorted(d["name"] for d in deleted) == ["r/one.txt", "r/two.txt"]
    assert all(d["bucket_id"] == bucket and d["id"] for d in deleted)
    for key in ["r/one.txt", "r/two.txt"]:
        server.assert_nothing_left(bucket, key)
    assert names(files.list("r")) == ["keep.txt"]
    assert files.remove(["r/missing.txt"]) == []
    server.assert_consistent(bucket)


def copy_or_move(http, action, body, **headers):
    return http.post(f"/object/{action}", json=body, headers=service_headers(**headers))


@pytest.mark.parametrize("action", ["copy", "move"])
def test_across_buckets(server, http, service, make_bucket, action):
    first, second = make_bucket(), make_bucket()
    service.from_(first).upload("a/x.bin", b"travels")
    source_id = server.object_row(first, "a/x.bin")[0]
    response = copy_or_move(http, action, {"bucketId": first, "sourceKey": "a/x.bin",
                                           "destinationBucket": second, "destinationKey": "b/y.bin"})
    assert response.status_code == 200, response.text
    assert service.from_(second).download("b/y.bin") == b"travels"
    moved = server.object_row(second, "b/y.bin")
    if action == "copy":
        assert response.json()["Key"] == f"{second}/b/y.bin" and response.json()["bucket_id"] == second
        assert moved[0] != source_id and server.object_row(first, "a/x.bin") is not None
    else:
        assert response.json() == {"message": "Successfully moved"}
        assert moved[0] == source_id
        server.assert_nothing_left(first, "a/x.bin")
    server.assert_consistent(first)
    server.assert_consistent(second)


def test_copy_with_replaced_metadata(server, http, files, bucket):
    files.upload("s.txt", b"source", {"content-type": "text/csv", "metadata": {"from": "source"}})
    response = copy_or_move(http, "copy", {"bucketId": bucket, "sourceKey": "s.txt", "destinationKey": "d.bin",
                                           "copyMetadata": False,
                                           "metadata": {"mimetype": "application/x-new", "cacheControl": "max-age=5"}},
                            **{"x-metadata": x_metadata({"from": "header"})})
    assert response.status_code == 200, response.text
    _, _, metadata, user_metadata, _, _ = server.object_row(bucket, "d.bin")
    assert (metadata["mimetype"], metadata["cacheControl"]) == ("application/x-new", "max-age=5")
    assert user_metadata == {"from": "header"}
    download = http.get(object_path(bucket, "d.bin"), headers=service_headers())
    assert download.content == b"source" and download.headers["content-type"] == "application/x-new"
    server.assert_consistent(bucket)


def test_copy_upsert_over_existing(server, http, files, bucket):
    files.upload("s.txt", b"new content")
    files.upload("d.txt", b"old content")
    dest_id, dest_version, _, _, _, _ = server.object_row(bucket, "d.txt")
    response = copy_or_move(http, "copy", {"bucketId": bucket, "sourceKey": "s.txt", "destinationKey": "d.txt"},
                            **{"x-upsert": "true"})
    assert response.status_code == 200, response.text
    row_id, version, metadata, _, _, _ = server.object_row(bucket, "d.txt")
    assert row_id == dest_id and version != dest_version  # overwriting keeps the row (contract §5.6)
    assert metadata["size"] == 11 and files.download("d.txt") == b"new content"
    assert [p.name for p in server.version_files(bucket, "d.txt")] == [version]
    server.assert_consistent(bucket)


def test_copy_onto_existing_without_upsert(server, http, files, bucket):
    files.upload("s.txt", b"source")
    files.upload("d.txt", b"dest")
    before = server.object_row(bucket, "d.txt")
    response = copy_or_move(http, "copy", {"bucketId": bucket, "sourceKey": "s.txt", "destinationKey": "d.txt"})
    assert_envelope(response, "409", "Duplicate", "KeyAlreadyExists", "The resource already exists")
    assert server.object_row(bucket, "d.txt") == before and files.download("d.txt") == b"dest"
    server.assert_consistent(bucket)


def test_move_onto_existing(server, http, files, bucket):
    files.upload("s.txt", b"source")
    files.upload("d.txt", b"dest")
    source, dest = server.object_row(bucket, "s.txt"), server.object_row(bucket, "d.txt")
    response = copy_or_move(http, "move", {"bucketId": bucket, "sourceKey": "s.txt", "destinationKey": "d.txt"})
    assert_envelope(response, "409", "Duplicate", "ResourceAlreadyExists", "The resource already exists")
    assert (server.object_row(bucket, "s.txt"), server.object_row(bucket, "d.txt")) == (source, dest)
    assert files.download("s.txt") == b"source" and files.download("d.txt") == b"dest"
    server.assert_consistent(bucket)


def test_move_to_same_key_is_a_no_op(server, http, files, bucket):
    files.upload("same.txt", b"stay")
    before = server.object_row(bucket, "same.txt")
    response = copy_or_move(http, "move", {"bucketId": bucket, "sourceKey": "same.txt", "destinationKey": "same.txt"})
    assert (response.status_code, response.json()) == (200, {"message": "Successfully moved"})
    assert server.object_row(bucket, "same.txt") == before and files.download("same.txt") == b"stay"
    server.assert_consistent(bucket)


def test_copy_and_move_missing_source(http, bucket):
    for action in ("copy", "move"):
        response = copy_or_move(http, action, {"bucketId": bucket, "sourceKey": "ghost", "destinationKey": "x"})
        assert_envelope(response, "404", "not_found", "NoSuchKey", "Object not found")


# Keys


PUNCTUATED_KEYS = [
    "with space.txt", "plus+sign.txt", "a&b=c.txt", "(paren).txt", "colon:at@bang!.txt", "quote'star*.txt",
    "comma,semi;dollar$.txt", "what?.txt", "deep/nested/folder/all +&=():@!'*,;$? .txt",
]


@pytest.mark.parametrize("key", PUNCTUATED_KEYS)
def test_punctuated_keys_round_trip(server, http, files, bucket, key):
    data = f"content of {key}".encode()
    assert files.upload(key, data).full_path == f"{bucket}/{key}"
    assert server.object_row(bucket, key) is not None
    assert files.download(key) == data
    raw = http.get(object_path(bucket, key), headers=service_headers())
    assert (raw.status_code, raw.content) == (200, data)
    parent, _, leaf = key.rpartition("/")
    assert leaf in names(files.list(parent))
    assert key in [o.name for o in files.list_v2({"prefix": parent}).objects]
    assert files.info(key)["name"] == key and files.exists(key)
    assert [d["name"] for d in files.remove([key])] == [key]
    server.assert_nothing_left(bucket, key)


@pytest.mark.parametrize("key", ["h\u00e9llo.txt", "\u65e5\u672c/\u8a9e.png", "100%.txt", "a%20b.txt", "emoji-\U0001f600"])
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_invalid_keys_are_rejected(server, http, bucket, key, method):
    response = raw_upload(http, bucket, key, b"nope", method=method)
    assert response.status_code == 400
    assert response.json() == {"statusCode": "400", "error": "InvalidKey", "message": f"Invalid key: {key}",
                               "code": "InvalidKey"}
    assert server.sql("select count(*) from storage.objects where bucket_id = %s", bucket) == [(0,)]
    assert server.all_files(bucket) == [] and server.temporary_files() == []


def test_invalid_key_through_storage3(files):
    with pytest.raises(StorageApiError) as error:
        files.upload("caf\u00e9.txt", b"x")
    assert (error.value.status, error.value.code, error.value.message) == ("400", "InvalidKey", "Invalid key: caf\u00e9.txt")


# Raw uploads


def test_raw_upload_headers_become_metadata(server, http, bucket):
    headers = {"Content-Type": "application/pdf", "Cache-Control": "public, max-age=99",
               "x-metadata": x_metadata({"owner": "me", "tags": ["a", "b"]})}
    response = raw_upload(http, bucket, "raw/doc.pdf", b"%PDF-1.7 raw", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["Id", "Key"] and body["Key"] == f"{bucket}/raw/doc.pdf"
    row_id, _, metadata, user_metadata, _, _ = server.object_row(bucket, "raw/doc.pdf")
    assert body["Id"] == str(row_id)
    assert (metadata["mimetype"], metadata["cacheControl"], metadata["size"]) == (
        "application/pdf", "public, max-age=99", 12)
    assert user_metadata == {"owner": "me", "tags": ["a", "b"]}
    download = http.get(object_path(bucket, "raw/doc.pdf"), headers=service_headers())
    assert download.content == b"%PDF-1.7 raw" and download.headers["content-type"] == "application/pdf"
    assert download.headers["cache-control"] == "public, max-age=99"


def test_raw_upload_defaults(server, http, bucket):
    response = raw_upload(http, bucket, "raw/plain", b"bytes")
    assert response.status_code == 200, response.text
    _, _, metadata, user_metadata, _, _ = server.object_row(bucket, "raw/plain")
    assert (metadata["mimetype"], metadata["cacheControl"]) == ("application/octet-stream", "no-cache")
    assert user_metadata == {}


def test_raw_upload_keeps_content_type_parameters(server, http, bucket):
    raw_upload(http, bucket, "raw/t.csv", b"a,b", headers={"Content-Type": "text/csv; charset=utf-8"})
    assert server.object_row(bucket, "raw/t.csv")[2]["mimetype"] == "text/csv; charset=utf-8"


def multipart(parts, boundary="compat-boundary"):
    """A hand-built multipart body: (field name, value, filename or None, part content type or None)."""
    body = b""
    for name, value, filename, content_type in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        body += (f"Content-Type: {content_type}\r\n" if content_type else "").encode() + b"\r\n" + value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_multipart_fields(server, http, bucket):
    """contentType overrides the part type; only fields before the file part count (contract §5.1)."""
    data = b"\r\n--not-a-boundary\r\n binary"
    body, headers = multipart([("cacheControl", b"120", None, None), ("contentType", b"image/webp", None, None),
                               ("file", data, "x.webp", "text/plain"), ("metadata", b'{"late": true}', None, None)])
    response = raw_upload(http, bucket, "form/x.webp", body, headers=headers)
    assert response.status_code == 200, response.text
    _, _, metadata, user_metadata, _, _ = server.object_row(bucket, "form/x.webp")
    assert (metadata["mimetype"], metadata["cacheControl"], metadata["size"]) == ("image/webp", "max-age=120", len(data))
    assert user_metadata == {}
    assert http.get(object_path(bucket, "form/x.webp"), headers=service_headers()).content == data


def test_multipart_in_tiny_chunks(server, http, bucket):
    """A form that arrives a few bytes at a time (a slow client, chunked): the closing delimiter
    spans many reads and is still recognised. File bytes that look like the start of a delimiter,
    cut anywhere by the chunks, stay file bytes."""
    data = os.urandom(3000) + b"\r\n--compat-boundar"
    body, headers = multipart([("cacheControl", b"60", None, None), ("file", data, "t.bin", "application/octet-stream")])
    for size in (1, 3, 7):
        key = f"form/tiny-{size}.bin"
        chunks = (body[start:start + size] for start in range(0, len(body), size))
        response = raw_upload(http, bucket, key, chunks, headers=headers)
        assert response.status_code == 200, (size, response.text)
        assert http.get(object_path(bucket, key), headers=service_headers()).content == data
    # A larger file full of near-delimiters, in chunks that cut them anywhere.
    near = [b"\r", b"\r\n", b"\r\n-", b"\r\n--compat", b"\r\n--compat-boundar", b"\r\n--compat-boundarX", b"--compat-boundary"]
    rng = random.Random(7)
    data = b"".join(rng.choice(near) + b"." + os.urandom(rng.randrange(0, 300)) + b"." for _ in range(6000))
    assert b"\r\n--compat-boundary" not in data
    body, headers = multipart([("file", data, "near.bin", "application/octet-stream")])
    for size in (997, 4096, 65537, len(body)):
        key = f"form/near-{size}.bin"
        chunks = (body[start:start + size] for start in range(0, len(body), size))
        response = raw_upload(http, bucket, key, chunks, headers=headers)
        assert response.status_code == 200, (size, response.text)
        assert http.get(object_path(bucket, key), headers=service_headers()).content == data
    # Cut off inside the closing delimiter: refused, nothing stored.
    cut = body[:-5]
    response = raw_upload(http, bucket, "form/tiny-cut.bin", (cut[start:start + 2] for start in range(0, len(cut), 2)),
                          headers=headers)
    assert_envelope(response, "400", "InvalidRequest", "InvalidRequest")
    server.assert_nothing_left(bucket, "form/tiny-cut.bin")
    server.assert_consistent(bucket)


def test_multipart_without_file_part(server, http, bucket):
    body, headers = multipart([("cacheControl", b"120", None, None)])
    response = raw_upload(http, bucket, "form/none.txt", body, headers=headers)
    assert_envelope(response, "400", "InvalidRequest", "InvalidRequest", "No content provided")
    server.assert_nothing_left(bucket, "form/none.txt")


# Empty objects and folder placeholders


def test_zero_byte_object(server, files, bucket):
    files.upload("empty.bin", b"")
    assert files.download("empty.bin") == b""
    assert files.info("empty.bin")["size"] == 0
    metadata = server.object_row(bucket, "empty.bin")[2]
    assert (metadata["size"], metadata["eTag"]) == (0, md5_etag(b""))
    server.assert_consistent(bucket)


def test_empty_folder_placeholder(server, http, files, bucket):
    files.upload("folder/.emptyFolderPlaceholder", b"")
    assert names(files.list("folder")) == [".emptyFolderPlaceholder"]
    assert names(files.list()) == ["folder"]
    response = raw_upload(http, bucket, "other/.emptyFolderPlaceholder", b"not empty")
    assert_envelope(response, "413", "Payload too large", "EntityTooLarge")
    server.assert_nothing_left(bucket, "other/.emptyFolderPlaceholder")
    server.assert_consistent(bucket)


# Larger bodies


def test_five_mebibytes_round_trip(server, http, files, bucket):
    data = os.urandom(5 * 1024 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    files.upload("big/multipart.bin", data, {"content-type": "application/octet-stream"})
    response = raw_upload(http, bucket, "big/raw.bin", data, method="PUT")
    assert response.status_code == 200, response.text
    for key in ("big/multipart.bin", "big/raw.bin"):
        assert hashlib.sha256(files.download(key)).hexdigest() == digest
        metadata = server.object_row(bucket, key)[2]
        assert (metadata["size"], metadata["eTag"]) == (len(data), md5_etag(data))
        (stored,) = server.version_files(bucket, key)
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest
    server.assert_consistent(bucket)
