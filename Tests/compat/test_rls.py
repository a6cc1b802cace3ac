"""Row-level security decides on every object route (contract §2.2, §2.3, §5.14, §6.5).

The main fixture gives role `authenticated` access only to the folder named after the caller's
`sub` (`(storage.foldername(name))[1] = auth.uid()::text`). Two users, alice and bob, then try
every route on their own and on each other's objects. Further buckets check that upsert needs
SELECT+UPDATE, that `storage.operation()` helpers see the route's operation, and that policies can
read the request's headers, method and JWT claims. Every policy is dropped after its test.
"""

import uuid
from dataclasses import dataclass

import pytest
from storage3.exceptions import StorageApiError

from conftest import ANON_KEY, bearer, user_token
from helpers_rls import RLS_DENIED, envelope, expect_error, policies  # noqa: F401  (fixture)


@dataclass
class User:
    sub: str
    token: str
    files: object  # storage3 bucket proxy acting as this user

    def key(self, name):
        return f"{self.sub}/{name}"

    def headers(self, **extra):
        return bearer(self.token, **extra)


def own_folder(bucket):
    return f"bucket_id = '{bucket}' and (storage.foldername(name))[1] = auth.uid()::text"


def make_user(server, bucket) -> User:
    sub = str(uuid.uuid4())
    token = user_token(sub)
    return User(sub, token, server.client(token).from_(bucket))


@pytest.fixture
def folders(server, service, bucket, policies):
    """A private bucket where each user may do anything inside their own folder only."""
    policies.add("objects", f"for all to authenticated using ({own_folder(bucket)}) with check ({own_folder(bucket)})")
    alice, bob = make_user(server, bucket), make_user(server, bucket)
    files = service.from_(bucket)
    files.upload(alice.key("a.txt"), b"alice a")
    files.upload(alice.key("sub/deep.txt"), b"alice deep")
    files.upload(bob.key("b.txt"), b"bob b")
    return bucket, alice, bob


def raises(call):
    with pytest.raises(StorageApiError) as error:
        call()
    return error.value.status, error.value.code, error.value.message


NOT_FOUND = ("404", "not_found", "Object not found")
# Most checks compare status and `error` only; the exact RLS message has a test of its own.
DENIED = ("403", "Unauthorized")


def expect_denied(response):
    body = envelope(response)
    assert (body["statusCode"], body["error"], body["code"]) == ("403", "Unauthorized", "AccessDenied")


# Own folder against the other user's folder


def test_rls_denial_message(server, http, folders):
    """Upstream maps SQLSTATE 42501 mentioning row-level security to exactly this text (§3.2)."""
    bucket, alice, bob = folders
    response = http.post(f"/object/{bucket}/{bob.key('x.txt')}", content=b"x", headers=alice.headers())
    expect_error(response, *RLS_DENIED)
    server.assert_nothing_left(bucket, bob.key("x.txt"))


def test_upload_only_into_own_folder(server, folders):
    bucket, alice, bob = folders
    result = alice.files.upload(alice.key("new.txt"), b"mine")
    assert result.full_path == f"{bucket}/{alice.key('new.txt')}"
    row = server.object_row(bucket, alice.key("new.txt"))
    assert (str(row[4]), row[5]) == (alice.sub, alice.sub)
    assert row[3] == {}

    assert raises(lambda: alice.files.upload(bob.key("intrusion.txt"), b"x"))[:2] == DENIED
    server.assert_nothing_left(bucket, bob.key("intrusion.txt"))
    assert raises(lambda: alice.files.upload("top-level.txt", b"x"))[:2] == DENIED
    server.assert_nothing_left(bucket, "top-level.txt")
    server.assert_consistent(bucket)


def test_upsert_own_but_not_others(server, service, http, folders):
    bucket, alice, bob = folders
    alice.files.upload(alice.key("a.txt"), b"alice again", {"upsert": "true"})
    assert alice.files.download(alice.key("a.txt")) == b"alice again"
    alice.files.update(alice.key("a.txt"), b"alice third")
    assert alice.files.download(alice.key("a.txt")) == b"alice third"

    before = server.object_row(bucket, bob.key("b.txt"))
    path = f"/object/{bucket}/{bob.key('b.txt')}"
    upsert = http.post(path, content=b"overwrite", headers=alice.headers(**{"x-upsert": "true"}))
    put = http.put(path, content=b"overwrite", headers=alice.headers())
    copy = http.post("/object/copy", json={"bucketId": bucket, "sourceKey": alice.key("a.txt"),
                                           "destinationKey": bob.key("b.txt")},
                     headers=alice.headers(**{"x-upsert": "true"}))
    # Checked first: the consequence that matters is bob's object being replaced.
    assert service.from_(bucket).download(bob.key("b.txt")) == b"bob b"
    assert server.object_row(bucket, bob.key("b.txt")) == before
    for response in (upsert, put, copy):
        expect_denied(response)
    server.assert_consistent(bucket)


def test_reads_see_only_own_objects(server, http, folders):
    bucket, alice, bob = folders
    assert alice.files.download(alice.key("a.txt")) == b"alice a"
    assert alice.files.info(alice.key("a.txt"))["size"] == len(b"alice a")
    assert alice.files.exists(alice.key("a.txt")) is True
    head = http.head(f"/object/{bucket}/{alice.key('a.txt')}", headers=alice.headers())
    assert head.status_code == 200 and head.headers["content-length"] == str(len(b"alice a"))
    auth = http.get(f"/object/authenticated/{bucket}/{alice.key('a.txt')}", headers=alice.headers())
    assert auth.content == b"alice a"

    assert raises(lambda: alice.files.download(bob.key("b.txt"))) == NOT_FOUND
    assert raises(lambda: alice.files.info(bob.key("b.txt"))) == NOT_FOUND
    assert alice.files.exists(bob.key("b.txt")) is False
    head = http.head(f"/object/{bucket}/{bob.key('b.txt')}", headers=alice.headers())
    assert (head.status_code, head.content) == (400, b"")
    expect_error(http.get(f"/object/authenticated/{bucket}/{bob.key('b.txt')}", headers=alice.headers()),
                 "404", *NOT_FOUND[1:], "NoSuchKey")
    assert bob.files.download(bob.key("b.txt")) == b"bob b"


def test_list_v1_shows_only_own_folder(folders):
    bucket, alice, bob = folders
    root = alice.files.list()
    assert [(item["name"], item["id"]) for item in root] == [(alice.sub, None)]
    assert [item["name"] for item in alice.files.list(alice.sub)] == ["a.txt", "sub"]
    assert alice.files.list(bob.sub) == []
    assert [item["name"] for item in bob.files.list()] == [bob.sub]


def test_list_v2_shows_only_own_objects(folders):
    bucket, alice, bob = folders
    flat = alice.files.list_v2({"prefix": ""})
    assert [o.name for o in flat.objects] == sorted([alice.key("a.txt"), alice.key("sub/deep.txt")])
    assert flat.hasNext is False
    delimited = alice.files.list_v2({"prefix": "", "with_delimiter": True})
    assert [f.name for f in delimited.folders] == [f"{alice.sub}/"] and delimited.objects == []
    assert alice.files.list_v2({"prefix": f"{bob.sub}/"}).objects == []


def test_copy_respects_both_ends(server, folders):
    bucket, alice, bob = folders
    result = alice.files.copy(alice.key("a.txt"), alice.key("copy.txt"))
    assert result["Key"] == f"{bucket}/{alice.key('copy.txt')}"
    assert alice.files.download(alice.key("copy.txt")) == b"alice a"
    row = server.object_row(bucket, alice.key("copy.txt"))
    assert (str(row[4]), row[5]) == (alice.sub, alice.sub)

    assert raises(lambda: alice.files.copy(bob.key("b.txt"), alice.key("stolen.txt"))) == NOT_FOUND
    server.assert_nothing_left(bucket, alice.key("stolen.txt"))
    assert raises(lambda: alice.files.copy(alice.key("a.txt"), bob.key("planted.txt")))[:2] == DENIED
    server.assert_nothing_left(bucket, bob.key("planted.txt"))
    server.assert_consistent(bucket)


def test_move_respects_both_ends(server, service, folders):
    bucket, alice, bob = folders
    service.from_(bucket).upload(alice.key("m1.txt"), b"move me")
    service.from_(bucket).upload(alice.key("m2.txt"), b"stay here")
    before = server.object_row(bucket, alice.key("m1.txt"))
    assert alice.files.move(alice.key("m1.txt"), alice.key("moved/m1.txt")) == {"message": "Successfully moved"}
    after = server.object_row(bucket, alice.key("moved/m1.txt"))
    assert after[0] == before[0] and (str(after[4]), after[5]) == (alice.sub, alice.sub)
    assert server.object_row(bucket, alice.key("m1.txt")) is None
    assert alice.files.download(alice.key("moved/m1.txt")) == b"move me"

    assert raises(lambda: alice.files.move(bob.key("b.txt"), alice.key("taken.txt"))) == NOT_FOUND
    assert server.object_row(bucket, bob.key("b.txt")) is not None
    server.assert_nothing_left(bucket, alice.key("taken.txt"))

    status, code, _ = raises(lambda: alice.files.move(alice.key("m2.txt"), bob.key("m2.txt")))
    assert (status, code) == ("403", "Unauthorized")
    assert alice.files.download(alice.key("m2.txt")) == b"stay here"
    server.assert_nothing_left(bucket, bob.key("m2.txt"))
    server.assert_consistent(bucket)


def test_delete_one_own_but_not_others(server, service, http, folders):
    bucket, alice, bob = folders
    service.from_(bucket).upload(alice.key("d.txt"), b"delete me")
    response = http.delete(f"/object/{bucket}/{alice.key('d.txt')}", headers=alice.headers())
    assert (response.status_code, response.json()) == (200, {"message": "Successfully deleted"})
    server.assert_nothing_left(bucket, alice.key("d.txt"))

    # Bob's row is invisible to Alice: the answer is the same as for a missing object.
    response = http.delete(f"/object/{bucket}/{bob.key('b.txt')}", headers=alice.headers())
    expect_error(response, "404", "not_found", "Object not found", "NoSuchKey")
    assert server.object_row(bucket, bob.key("b.txt")) is not None
    assert len(server.version_files(bucket, bob.key("b.txt"))) == 1
    server.assert_consistent(bucket)


def test_bulk_remove_deletes_only_own(server, service, folders):
    bucket, alice, bob = folders
    service.from_(bucket).upload(alice.key("r1.txt"), b"r1")
    removed = alice.files.remove([alice.key("r1.txt"), bob.key("b.txt"), alice.key("never-existed.txt")])
    assert [item["name"] for item in removed] == [alice.key("r1.txt")]
    server.assert_nothing_left(bucket, alice.key("r1.txt"))
    assert server.object_row(bucket, bob.key("b.txt")) is not None
    assert bob.files.download(bob.key("b.txt")) == b"bob b"
    server.assert_consistent(bucket)


def test_owner_of_uploads_by_a_non_uuid_sub(server, make_bucket, policies):
    """§6.5: owner_id is the sub verbatim; owner (uuid) only when the sub is a UUID."""
    name = make_bucket()
    policies.add("objects", f"for insert to authenticated with check (bucket_id = '{name}')")
    token = user_token("user-42")
    server.client(token).from_(name).upload("x.txt", b"x")
    row = server.object_row(name, "x.txt")
    assert (row[4], row[5]) == (None, "user-42")


# Upsert needs INSERT + SELECT + UPDATE (§2.3)


def test_upsert_needs_select_and_update(server, service, http, make_bucket, policies):
    name = make_bucket()
    user = make_user(server, name)
    policies.add("objects", f"for insert to authenticated with check (bucket_id = '{name}')")
    user.files.upload("plain.txt", b"first")
    before = server.object_row(name, "plain.txt")

    upsert = http.post(f"/object/{name}/plain.txt", content=b"second", headers=user.headers(**{"x-upsert": "true"}))
    put = http.put(f"/object/{name}/plain.txt", content=b"second", headers=user.headers())
    fresh = http.put(f"/object/{name}/fresh.txt", content=b"new", headers=user.headers())
    assert service.from_(name).download("plain.txt") == b"first"
    assert server.object_row(name, "plain.txt") == before
    for response in (upsert, put, fresh):
        expect_denied(response)
    server.assert_nothing_left(name, "fresh.txt")
    assert raises(lambda: user.files.upload("plain.txt", b"second"))[:2] == ("409", "Duplicate")

    policies.add("objects", f"for select to authenticated using (bucket_id = '{name}')")
    policies.add("objects", f"for update to authenticated using (bucket_id = '{name}') with check (bucket_id = '{name}')")
    user.files.upload("plain.txt", b"second", {"upsert": "true"})
    assert user.files.download("plain.txt") == b"second"
    assert server.object_row(name, "plain.txt")[0] == before[0]
    server.assert_consistent(name)


def test_delete_needs_a_delete_policy(server, service, http, make_bucket, policies):
    name = make_bucket()
    user = make_user(server, name)
    policies.add("objects", f"for select to authenticated using (bucket_id = '{name}')")
    service.from_(name).upload("keep.txt", b"keep")
    expect_error(http.delete(f"/object/{name}/keep.txt", headers=user.headers()),
                 "403", "Unauthorized", "Access denied", "AccessDenied")
    assert user.files.remove(["keep.txt"]) == []
    assert user.files.download("keep.txt") == b"keep"
    server.assert_consistent(name)


# storage.operation() and the request facts


def test_operation_helpers_see_the_route(server, service, http, make_bucket, policies):
    name = make_bucket()
    user = make_user(server, name)
    policies.add("objects", f"for insert to authenticated with check "
                            f"(bucket_id = '{name}' and storage.allow_only_operation('object.upload'))")
    policies.add("objects", f"for select to authenticated using (bucket_id = '{name}' and "
                            f"storage.allow_any_operation(array['object.get_authenticated', 'storage.object.copy']))")

    user.files.upload("op/a.txt", b"by upload")                    # storage.object.upload
    assert user.files.download("op/a.txt") == b"by upload"          # storage.object.get_authenticated
    assert raises(lambda: user.files.info("op/a.txt")) == NOT_FOUND  # info is another operation
    assert user.files.list("op") == []                              # so is list

    # Copy may read the source (object.copy is allowed) but not insert the destination.
    assert raises(lambda: user.files.copy("op/a.txt", "op/b.txt"))[:2] == DENIED
    server.assert_nothing_left(name, "op/b.txt")
    # PUT is storage.object.upload_update: the insert policy refuses it.
    put = http.put(f"/object/{name}/op/put.txt", content=b"x", headers=user.headers())
    server.assert_nothing_left(name, "op/put.txt")
    expect_denied(put)
    server.assert_consistent(name)


def test_operation_value_seen_by_policies(server, make_bucket, policies):
    """The probe row is checked with `storage.operation()` = the route's id (§5.14)."""
    name = make_bucket()
    user = make_user(server, name)
    policies.add("objects", f"for insert to authenticated with check (bucket_id = '{name}' and "
                            f"storage.operation() = 'storage.object.upload' and name = 'seen.txt')")
    user.files.upload("seen.txt", b"x")
    assert server.object_row(name, "seen.txt") is not None


def test_policies_read_request_headers_method_and_claims(server, service, http, make_bucket, policies):
    name = make_bucket()
    sub = str(uuid.uuid4())
    red, blue = user_token(sub, team="red"), user_token(sub, team="blue")
    policies.add("objects", f"for insert to authenticated with check (bucket_id = '{name}' "
                            "and current_setting('request.headers', true)::json->>'x-tenant' = 'a' "
                            "and current_setting('request.jwt.claims', true)::json->>'team' = 'red')")
    policies.add("objects", f"for select to authenticated using (bucket_id = '{name}' "
                            "and current_setting('request.method', true) = 'GET')")

    def upload(key, token, **headers):
        return http.post(f"/object/{name}/{key}", content=b"tenant a",
                         headers=bearer(token, **{"content-type": "text/plain", **headers}))

    assert upload("ok.txt", red, **{"x-tenant": "a"}).status_code == 200
    for key, token, headers in (("wrong-tenant.txt", red, {"x-tenant": "b"}),
                                ("no-tenant.txt", red, {}),
                                ("wrong-team.txt", blue, {"x-tenant": "a"})):
        expect_denied(upload(key, token, **headers))
        server.assert_nothing_left(name, key)
    row = server.object_row(name, "ok.txt")
    assert row[5] == sub

    # SELECT only for GET: download works, list (POST) sees nothing.
    download = http.get(f"/object/{name}/ok.txt", headers=bearer(red))
    assert (download.status_code, download.content) == (200, b"tenant a")
    listed = http.post(f"/object/list/{name}", json={"prefix": ""}, headers=bearer(red))
    assert (listed.status_code, listed.json()) == (200, [])
    server.assert_consistent(name)


def test_request_path_is_visible_to_policies(server, make_bucket, policies):
    """`request.path` carries the path of the request (§2.2), here with a query string."""
    name = make_bucket()
    sub = str(uuid.uuid4())
    policies.add("objects", f"for select to authenticated using (bucket_id = '{name}' "
                            "and current_setting('request.path', true) like '%%/object/%%?download=yes%%')")
    service_files = server.client().from_(name)
    service_files.upload("p.txt", b"path")
    files = server.client(user_token(sub)).from_(name)
    assert files.download("p.txt", query_params={"download": "yes"}) == b"path"
    assert raises(lambda: files.download("p.txt")) == NOT_FOUND


def test_anonymous_policy_on_private_bucket_is_not_enough_without_a_token(server, http, service, bucket, policies):
    """Allow-invalid-JWT routes: no token ⇒ anonymous ⇒ private buckets are NoSuchBucket, whatever
    the policies say; the anon *key* is a caller and its policy applies."""
    policies.add("objects", f"for select to anon using (bucket_id = '{bucket}')")
    service.from_(bucket).upload("anon-readable.txt", b"anon")
    expect_error(http.get(f"/object/{bucket}/anon-readable.txt"),
                 "404", "Bucket not found", "Bucket not found", "NoSuchBucket")
    response = http.get(f"/object/{bucket}/anon-readable.txt", headers=bearer(ANON_KEY))
    assert (response.status_code, response.content) == (200, b"anon")


def test_an_anonymous_overwrite_is_judged_on_the_row_it_writes(server, http, make_bucket, policies):
    """Found in review: an overwrite by a caller without a `sub` keeps the row's owner, but the
    RLS probe judged a row whose owner was cleared, so a policy that lets anon update only
    ownerless rows let it overwrite a user's object. The probe now writes what the upload writes."""
    name = make_bucket()
    user = make_user(server, name)
    policies.add("objects", f"for insert to authenticated with check (bucket_id = '{name}')")
    policies.add("objects", f"for all to anon using (bucket_id = '{name}') with check (bucket_id = '{name}' and owner is null)")
    user.files.upload("theirs.txt", b"user's")
    before = server.object_row(name, "theirs.txt")
    overwrite = http.post(f"/object/{name}/theirs.txt", content=b"anon's",
                          headers=bearer(ANON_KEY, **{"x-upsert": "true", "content-type": "text/plain"}))
    expect_denied(overwrite)
    assert server.object_row(name, "theirs.txt") == before
    # Ownerless rows stay anon's to overwrite.
    created = http.post(f"/object/{name}/anon.txt", content=b"one", headers=bearer(ANON_KEY, **{"content-type": "text/plain"}))
    assert created.status_code == 200, created.text
    again = http.post(f"/object/{name}/anon.txt", content=b"two",
                      headers=bearer(ANON_KEY, **{"x-upsert": "true", "content-type": "text/plain"}))
    assert again.status_code == 200, again.text
    response = http.get(f"/object/authenticated/{name}/anon.txt", headers=bearer(ANON_KEY))
    assert (response.status_code, response.content) == (200, b"two")
    server.assert_consistent(name)
