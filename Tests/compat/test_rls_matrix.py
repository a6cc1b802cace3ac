"""Row-level security as a matrix: policy sets × roles × every route, checked cell by cell.

Nothing below hand-writes an expected status. Each route lists, in `REQUIREMENTS`, the statements it
runs under the caller's role, as ordered steps; each step names the privileges it needs and what the
caller sees when one is missing. Each policy set, in `POLICY_SETS`, grants privileges. The expected
outcome of a cell is then derived (`expected_outcome`):

* `service_role` has BYPASSRLS (contract §2.2): every step passes, whatever the policies.
* A role the set's policies are not written `to` is granted nothing (default deny).
* Otherwise the set grants its privileges on both `storage.objects` and `storage.buckets`, for the
  rows its predicate admits. A privilege is needed on the **old** row (the one already stored, which
  USING clauses filter) or on the **new** row (the one written, which WITH CHECK clauses test).
  Plain sets admit every row of the cell's bucket, old and new. Owner-only sets admit rows whose
  `owner_id` is the caller's `sub`: new rows always are the caller's (§6.5), so an authenticated
  caller passes every "new" need, and "old" needs only where the seeded rows were given to it;
  anon has no `sub`, so `auth.uid()` is null and nothing is admitted.
* The first step with a missing privilege decides the denial; if none is missing, the route is
  allowed.

Why the steps are what they are: the upstream statements (supabase/storage `src/storage`) under
PostgreSQL's policy rules (CREATE POLICY, "policies applied by command type"):
* a SELECT sees only rows passing SELECT policies: an invisible row is NoSuchKey/NoSuchBucket, or
  an empty listing;
* a plain INSERT (upload, copy destination, signed-upload and TUS probes; bucket create) checks only
  INSERT's WITH CHECK on the new row; failing it raises 42501 → "new row violates row-level security
  policy" (§3.2);
* the upsert probe is `INSERT … ON CONFLICT DO UPDATE … RETURNING *`: ON CONFLICT DO UPDATE (and
  RETURNING) make SELECT policies apply to the new row, so even a new key needs INSERT + SELECT,
  but not UPDATE; on an existing key the conflict path also tests SELECT and UPDATE USING on the old
  row and UPDATE WITH CHECK on the new one — all as errors, not filters (§2.3: upsert needs
  INSERT + SELECT + UPDATE). Checked against PostgreSQL directly with the upstream statements;
* `UPDATE … WHERE … RETURNING` (move, bucket update) filters old rows by SELECT and UPDATE USING
  (0 rows → NoSuchKey / NoSuchBucket) and tests the new row by UPDATE WITH CHECK and SELECT (error);
* `DELETE … WHERE …` filters by SELECT and DELETE USING: 0 rows → "Access denied" for one object
  (the row was found as superuser first, §5.3), an empty result for many, NoSuchBucket for a bucket;
* empty bucket runs under RLS as the caller (contract §4): the bucket must be visible, then it
  deletes what the caller may select and delete, answering 200 either way;
* reads from public buckets run as superuser: no privilege needed.

Each cell creates its own bucket (and seeds it as the service role), so cells are independent.
The policies are created once for the module and admit only buckets named `rlsm.<set>.<random>`,
so a set's policies reach exactly the buckets of its cells and nothing else in the shared database.
Outcomes are checked by their effect, not only their status: rows, stored bytes, listings, tokens
that really work, and nothing left behind by a refusal.

`service_role` bypasses RLS whatever the policies, so its cells run against two sets only: `none`
(nothing granted to anyone) and `owner_only_foreign` (the most restrictive predicate); repeating
them for every set would only repeat the same requests.
"""

import base64
import io
import uuid
from dataclasses import dataclass

import psycopg
import pytest
from PIL import Image

from conftest import ANON_KEY, bearer, service_headers, user_token
from helpers_rls import RLS_DENIED, Policies, envelope

# The matrix: policy sets


@dataclass(frozen=True)
class PolicySet:
    privileges: frozenset
    to: tuple = ("anon", "authenticated")
    # None: every row of the cell's bucket. "caller"/"other": only rows whose owner_id is the
    # caller's sub; the seeded rows (and the bucket) are given to the caller, or to someone else.
    owner: str | None = None


def privileges(*names) -> frozenset:
    return frozenset(names)


ALL = privileges("select", "insert", "update", "delete")

POLICY_SETS = {
    "none": PolicySet(privileges()),
    "select_only": PolicySet(privileges("select")),
    "insert_only": PolicySet(privileges("insert")),
    "delete_only": PolicySet(privileges("delete")),
    "select_insert": PolicySet(privileges("select", "insert")),
    "select_insert_update": PolicySet(privileges("select", "insert", "update")),
    "all": PolicySet(ALL),
    "all_to_authenticated": PolicySet(ALL, to=("authenticated",)),
    "owner_only": PolicySet(ALL, owner="caller"),
    "owner_only_foreign": PolicySet(ALL, owner="other"),
}

ROLES = ("anon", "authenticated", "service_role")
SERVICE_ROLE_SETS = ("none", "owner_only_foreign")

# Outcomes. Denials are named by what the caller sees.
ALLOWED = "allowed"
RLS = "rls_denied"                  # 403 "new row violates row-level security policy"
NO_SUCH_KEY = "no_such_key"         # 404 not_found (the row is invisible)
NO_SUCH_BUCKET = "no_such_bucket"   # 404 Bucket not found
ACCESS_DENIED = "access_denied"     # 403 "Access denied" (delete of a visible row DELETE refuses)
SILENT = "silent"                   # 200, but nothing is seen, signed or deleted

# The matrix: what every route needs, step by step: "table: privilege row, …" → outcome if missing.
REQUIREMENTS = {
    "list_buckets": [("buckets: select old", SILENT)],
    "get_bucket": [("buckets: select old", NO_SUCH_BUCKET)],
    "create_bucket": [("buckets: insert new", RLS)],
    "update_bucket": [("buckets: select old, update old", NO_SUCH_BUCKET),
                      ("buckets: update new, select new", RLS)],
    "empty_bucket": [("buckets: select old", NO_SUCH_BUCKET),
                     ("objects: select old, delete old", SILENT)],
    "delete_bucket": [("buckets: select old, delete old", NO_SUCH_BUCKET)],
    "upload": [("objects: insert new", RLS)],
    "upsert_new": [("objects: insert new, select new", RLS)],
    "upsert_existing": [("objects: insert new, select old, update old, update new, select new", RLS)],
    "put_new": [("objects: insert new, select new", RLS)],
    "put_existing": [("objects: insert new, select old, update old, update new, select new", RLS)],
    "download": [("objects: select old", NO_SUCH_KEY)],
    "download_authenticated": [("objects: select old", NO_SUCH_KEY)],
    "info": [("objects: select old", NO_SUCH_KEY)],
    "head": [("objects: select old", NO_SUCH_KEY)],
    "list_v1": [("objects: select old", SILENT)],
    "list_v2": [("objects: select old", SILENT)],
    "copy": [("objects: select old", NO_SUCH_KEY), ("objects: insert new", RLS)],
    "move": [("objects: select old, update old", NO_SUCH_KEY), ("objects: update new, select new", RLS)],
    # An invisible row answers like a missing one (no existence oracle); a visible one that the
    # DELETE policy refuses is AccessDenied.
    "delete_one": [("objects: select old", NO_SUCH_KEY), ("objects: delete old", ACCESS_DENIED)],
    "delete_many": [("objects: select old, delete old", SILENT)],
    "sign_one": [("objects: select old", NO_SUCH_KEY)],
    "sign_many": [("objects: select old", SILENT)],
    "sign_upload": [("objects: insert new", RLS)],
    "tus_create": [("objects: insert new", RLS)],
    "render_authenticated": [("objects: select old", NO_SUCH_KEY)],
    "public_download": [],
}


def parse_needs(text: str) -> frozenset:
    """'objects: select old, insert new' → {('objects', 'select', 'old'), ('objects', 'insert', 'new')}."""
    table, items = text.split(":")
    return frozenset((table.strip(), *item.split()) for item in items.split(","))


def granted(policy_set: PolicySet, role: str) -> frozenset:
    if role == "service_role":
        return frozenset((table, privilege, row) for table in ("objects", "buckets")
                         for privilege in ALL for row in ("old", "new"))
    if role not in policy_set.to:
        return frozenset()
    if policy_set.owner is None:
        rows = {"old", "new"}
    elif role == "anon":
        rows = set()
    else:
        rows = {"new", "old"} if policy_set.owner == "caller" else {"new"}
    return frozenset((table, privilege, row) for table in ("objects", "buckets")
                     for privilege in policy_set.privileges for row in rows)


def expected_outcome(operation: str, policy_set: PolicySet, role: str) -> str:
    have = granted(policy_set, role)
    for needs, denial in REQUIREMENTS[operation]:
        if not parse_needs(needs) <= have:
            return denial
    return ALLOWED


def cells():
    for operation in REQUIREMENTS:
        for role in ROLES:
            for set_name in POLICY_SETS:
                if role == "service_role" and set_name not in SERVICE_ROLE_SETS:
                    continue
                yield pytest.param(operation, role, set_name, id=f"{operation}-{role}-{set_name}")


# Identities and data

CALLER = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
ROLE_HEADERS = {
    "anon": bearer(ANON_KEY),
    "authenticated": bearer(user_token(CALLER)),
    "service_role": service_headers(),
}
ROLE_SUB = {"anon": None, "authenticated": CALLER, "service_role": None}
SEED = b"seeded by the service role"
NEW = b"written by the caller"


def tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def predicate(column: str, set_name: str, policy_set: PolicySet) -> str:
    clause = f"starts_with({column}, 'rlsm.{set_name}.')"
    if policy_set.owner:
        clause += " and owner_id = auth.uid()::text"
    return clause


@pytest.fixture(scope="module")
def quick_sql(server):
    """`server.sql` on one kept connection for this module: a cell runs a dozen queries, and a new
    connection for each would cost more than the cell's requests. Same semantics (autocommit, the
    delete-protection switch on); restored afterwards."""
    connection = psycopg.connect(server.database_url, autocommit=True)
    connection.execute("select set_config('storage.allow_delete_query', 'true', false)")

    def sql(query, *params):
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    with pytest.MonkeyPatch.context() as patch, connection:
        patch.setattr(server, "sql", sql)
        yield


@pytest.fixture(scope="module")
def client(server):
    """One HTTP client for every cell (building a client per test costs as much as a cell)."""
    with server.http() as http:
        yield http


@pytest.fixture(scope="module")
def matrix_policies(server, quick_sql):
    """Every set's policies, each admitting only the buckets of that set's cells."""
    created = Policies(server)
    clauses = {"select": "for select to {to} using ({p})", "insert": "for insert to {to} with check ({p})",
               "update": "for update to {to} using ({p}) with check ({p})", "delete": "for delete to {to} using ({p})"}
    try:
        for set_name, policy_set in POLICY_SETS.items():
            for table, column in (("objects", "bucket_id"), ("buckets", "id")):
                for privilege in sorted(policy_set.privileges):
                    created.add(table, clauses[privilege].format(
                        to=", ".join(policy_set.to), p=predicate(column, set_name, policy_set)))
        yield
    finally:
        created.drop_all()


# One cell


class Cell:
    """A fresh bucket of one policy set, seeded as the service role, and the caller's identity."""

    def __init__(self, server, http, role, set_name):
        self.server, self.http, self.set_name = server, http, set_name
        self.headers, self.sub = ROLE_HEADERS[role], ROLE_SUB[role]
        self.bucket = f"rlsm.{set_name}.{uuid.uuid4().hex[:10]}"

    def prepare(self, *, create=True, public=False, seeds=()):
        if not create:
            return
        http, server = self.http, self.server
        created = http.post("/bucket", json={"name": self.bucket, "public": public}, headers=service_headers())
        assert created.status_code == 200, created.text
        for name, data in seeds:
            stored = http.post(self.path(name), content=data, headers=service_headers())
            assert stored.status_code == 200, stored.text
        owner = {"caller": CALLER, "other": OTHER}.get(POLICY_SETS[self.set_name].owner)
        if owner:
            server.sql("update storage.buckets set owner = %s::uuid, owner_id = %s where id = %s",
                       owner, owner, self.bucket)
            server.sql("update storage.objects set owner = %s::uuid, owner_id = %s where bucket_id = %s",
                       owner, owner, self.bucket)

    def path(self, name, route="object"):
        return f"/{route}/{self.bucket}/{name}"

    def bucket_row(self):
        rows = self.server.sql("select file_size_limit, owner_id from storage.buckets where id = %s", self.bucket)
        return rows[0] if rows else None

    def stored(self, name) -> bytes:
        """The bytes of the object's current version, which must be its only stored version."""
        row = self.server.object_row(self.bucket, name)
        assert row is not None, f"no row for {name}"
        current = self.server.bucket_dir(self.bucket) / name / row[1]
        assert self.server.version_files(self.bucket, name) == [current]
        return current.read_bytes()

    def assert_new_object(self, name, data):
        assert self.stored(name) == data
        assert self.server.object_row(self.bucket, name)[5] == self.sub

    def assert_untouched(self, name, before):
        """A refused change left the seeded object exactly as it was."""
        assert self.server.object_row(self.bucket, name) == before
        assert self.stored(name) == SEED

    def cleanup(self):
        if self.bucket_row() is None:
            return
        emptied = self.http.post(f"/bucket/{self.bucket}/empty", headers=service_headers())
        assert emptied.status_code == 200, emptied.text
        self.server.assert_consistent(self.bucket)
        deleted = self.http.delete(f"/bucket/{self.bucket}", headers=service_headers())
        assert deleted.status_code == 200, deleted.text


def expect_denial(response, outcome):
    """The error envelope each named denial has (HTTP 400, logical status in the body, §3.2)."""
    shapes = {
        RLS: RLS_DENIED,
        NO_SUCH_KEY: ("404", "not_found", "Object not found", "NoSuchKey"),
        NO_SUCH_BUCKET: ("404", "Bucket not found", "Bucket not found", "NoSuchBucket"),
        ACCESS_DENIED: ("403", "Unauthorized", "Access denied", "AccessDenied"),
    }
    status, error, message, code = shapes[outcome]
    assert envelope(response) == {"statusCode": status, "error": error, "message": message, "code": code}


# The routes: each acts as the caller, then checks the effect of the expected outcome.

OPERATIONS = {}
SEEDED = (("seed.txt", SEED),)


def operation(name, **cell_options):
    def register(function):
        OPERATIONS[name] = (function, cell_options)
        return function
    return register


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response


@operation("list_buckets")
def list_buckets(cell, outcome):
    listed = {bucket["id"] for bucket in ok(cell.http.get("/bucket", headers=cell.headers)).json()}
    assert (cell.bucket in listed) == (outcome == ALLOWED)


@operation("get_bucket")
def get_bucket(cell, outcome):
    response = cell.http.get(f"/bucket/{cell.bucket}", headers=cell.headers)
    if outcome == ALLOWED:
        assert ok(response).json()["id"] == cell.bucket
    else:
        expect_denial(response, outcome)


@operation("create_bucket", create=False)
def create_bucket(cell, outcome):
    response = cell.http.post("/bucket", json={"name": cell.bucket}, headers=cell.headers)
    if outcome == ALLOWED:
        assert ok(response).json() == {"name": cell.bucket}
        assert cell.bucket_row() == (None, cell.sub)
    else:
        expect_denial(response, outcome)
        assert cell.bucket_row() is None


@operation("update_bucket")
def update_bucket(cell, outcome):
    response = cell.http.put(f"/bucket/{cell.bucket}", json={"file_size_limit": 1234}, headers=cell.headers)
    if outcome == ALLOWED:
        assert ok(response).json() == {"message": "Successfully updated"}
        assert cell.bucket_row()[0] == 1234
    else:
        expect_denial(response, outcome)
        assert cell.bucket_row()[0] is None


@operation("empty_bucket", seeds=SEEDED)
def empty_bucket(cell, outcome):
    before = cell.server.object_row(cell.bucket, "seed.txt")
    response = cell.http.post(f"/bucket/{cell.bucket}/empty", headers=cell.headers)
    if outcome in (ALLOWED, SILENT):
        assert ok(response).json()["message"].startswith("Empty bucket has been queued")
    else:
        expect_denial(response, outcome)
    if outcome == ALLOWED:
        cell.server.assert_nothing_left(cell.bucket, "seed.txt")
    else:
        cell.assert_untouched("seed.txt", before)


@operation("delete_bucket")
def delete_bucket(cell, outcome):
    response = cell.http.delete(f"/bucket/{cell.bucket}", headers=cell.headers)
    if outcome == ALLOWED:
        assert ok(response).json() == {"message": "Successfully deleted"}
        assert cell.bucket_row() is None
    else:
        expect_denial(response, outcome)
        assert cell.bucket_row() is not None


def write_new(cell, outcome, method, **headers):
    response = cell.http.request(method, cell.path("new.txt"), content=NEW, headers={**cell.headers, **headers})
    if outcome == ALLOWED:
        assert ok(response).json()["Key"] == f"{cell.bucket}/new.txt"
        cell.assert_new_object("new.txt", NEW)
    else:
        expect_denial(response, outcome)
        cell.server.assert_nothing_left(cell.bucket, "new.txt")
    cell.server.assert_consistent(cell.bucket)


def overwrite_seed(cell, outcome, method, **headers):
    before = cell.server.object_row(cell.bucket, "seed.txt")
    response = cell.http.request(method, cell.path("seed.txt"), content=NEW, headers={**cell.headers, **headers})
    if outcome == ALLOWED:
        assert ok(response).json() == {"Id": str(before[0]), "Key": f"{cell.bucket}/seed.txt"}
        assert cell.stored("seed.txt") == NEW
    else:
        expect_denial(response, outcome)
        cell.assert_untouched("seed.txt", before)
    cell.server.assert_consistent(cell.bucket)


@operation("upload")
def upload(cell, outcome):
    write_new(cell, outcome, "POST")


@operation("upsert_new")
def upsert_new(cell, outcome):
    write_new(cell, outcome, "POST", **{"x-upsert": "true"})


@operation("upsert_existing", seeds=SEEDED)
def upsert_existing(cell, outcome):
    overwrite_seed(cell, outcome, "POST", **{"x-upsert": "true"})


@operation("put_new")
def put_new(cell, outcome):
    write_new(cell, outcome, "PUT")


@operation("put_existing", seeds=SEEDED)
def put_existing(cell, outcome):
    overwrite_seed(cell, outcome, "PUT")


def read_seed(cell, outcome, route):
    response = cell.http.get(cell.path("seed.txt", route), headers=cell.headers)
    if outcome == ALLOWED:
        assert ok(response).content == SEED
    else:
        expect_denial(response, outcome)


@operation("download", seeds=SEEDED)
def download(cell, outcome):
    read_seed(cell, outcome, "object")


@operation("download_authenticated", seeds=SEEDED)
def download_authenticated(cell, outcome):
    read_seed(cell, outcome, "object/authenticated")


@operation("public_download", seeds=SEEDED, public=True)
def public_download(cell, outcome):
    read_seed(cell, outcome, "object/public")


@operation("info", seeds=SEEDED)
def info(cell, outcome):
    response = cell.http.get(cell.path("seed.txt", "object/info"), headers=cell.headers)
    if outcome == ALLOWED:
        body = ok(response).json()
        assert (body["name"], body["bucket_id"], body["size"]) == ("seed.txt", cell.bucket, len(SEED))
    else:
        expect_denial(response, outcome)


@operation("head", seeds=SEEDED)
def head(cell, outcome):
    response = cell.http.head(cell.path("seed.txt"), headers=cell.headers)
    if outcome == ALLOWED:
        assert ok(response).headers["content-length"] == str(len(SEED))
    else:
        # HEAD carries the error's HTTP status and no body (§3.1, §5.2).
        assert (response.status_code, response.content) == (400, b"")


@operation("list_v1", seeds=SEEDED)
def list_v1(cell, outcome):
    response = cell.http.post(f"/object/list/{cell.bucket}", json={"prefix": ""}, headers=cell.headers)
    names = [item["name"] for item in ok(response).json()]
    assert names == (["seed.txt"] if outcome == ALLOWED else [])


@operation("list_v2", seeds=SEEDED)
def list_v2(cell, outcome):
    response = cell.http.post(f"/object/list-v2/{cell.bucket}", json={"prefix": ""}, headers=cell.headers)
    body = ok(response).json()
    assert [item["name"] for item in body["objects"]] == (["seed.txt"] if outcome == ALLOWED else [])
    assert (body["folders"], body["hasNext"]) == ([], False)


@operation("copy", seeds=SEEDED)
def copy(cell, outcome):
    before = cell.server.object_row(cell.bucket, "seed.txt")
    response = cell.http.post("/object/copy", headers=cell.headers, json={
        "bucketId": cell.bucket, "sourceKey": "seed.txt", "destinationKey": "copy.txt"})
    if outcome == ALLOWED:
        assert ok(response).json()["Key"] == f"{cell.bucket}/copy.txt"
        cell.assert_new_object("copy.txt", SEED)
    else:
        expect_denial(response, outcome)
        cell.server.assert_nothing_left(cell.bucket, "copy.txt")
    cell.assert_untouched("seed.txt", before)
    cell.server.assert_consistent(cell.bucket)


@operation("move", seeds=SEEDED)
def move(cell, outcome):
    before = cell.server.object_row(cell.bucket, "seed.txt")
    response = cell.http.post("/object/move", headers=cell.headers, json={
        "bucketId": cell.bucket, "sourceKey": "seed.txt", "destinationKey": "moved.txt"})
    if outcome == ALLOWED:
        assert ok(response).json() == {"message": "Successfully moved"}
        assert cell.stored("moved.txt") == SEED
        assert cell.server.object_row(cell.bucket, "moved.txt")[0] == before[0]
        cell.server.assert_nothing_left(cell.bucket, "seed.txt")
    else:
        expect_denial(response, outcome)
        cell.assert_untouched("seed.txt", before)
        cell.server.assert_nothing_left(cell.bucket, "moved.txt")
    cell.server.assert_consistent(cell.bucket)


@operation("delete_one", seeds=SEEDED)
def delete_one(cell, outcome):
    before = cell.server.object_row(cell.bucket, "seed.txt")
    response = cell.http.delete(cell.path("seed.txt"), headers=cell.headers)
    if outcome == ALLOWED:
        assert ok(response).json() == {"message": "Successfully deleted"}
        cell.server.assert_nothing_left(cell.bucket, "seed.txt")
    else:
        expect_denial(response, outcome)
        cell.assert_untouched("seed.txt", before)
    cell.server.assert_consistent(cell.bucket)


@operation("delete_many", seeds=SEEDED)
def delete_many(cell, outcome):
    before = cell.server.object_row(cell.bucket, "seed.txt")
    response = cell.http.request("DELETE", f"/object/{cell.bucket}", json={"prefixes": ["seed.txt"]},
                                 headers=cell.headers)
    deleted = [item["name"] for item in ok(response).json()]
    if outcome == ALLOWED:
        assert deleted == ["seed.txt"]
        cell.server.assert_nothing_left(cell.bucket, "seed.txt")
    else:
        assert deleted == []
        cell.assert_untouched("seed.txt", before)
    cell.server.assert_consistent(cell.bucket)


def fetch_signed(cell, relative_url) -> bytes:
    return ok(cell.http.get(relative_url)).content


@operation("sign_one", seeds=SEEDED)
def sign_one(cell, outcome):
    response = cell.http.post(cell.path("seed.txt", "object/sign"), json={"expiresIn": 60}, headers=cell.headers)
    if outcome == ALLOWED:
        assert fetch_signed(cell, ok(response).json()["signedURL"]) == SEED
    else:
        expect_denial(response, outcome)


@operation("sign_many", seeds=SEEDED)
def sign_many(cell, outcome):
    response = cell.http.post(f"/object/sign/{cell.bucket}", json={"expiresIn": 60, "paths": ["seed.txt"]},
                              headers=cell.headers)
    [item] = ok(response).json()
    if outcome == ALLOWED:
        assert (item["error"], item["path"]) == (None, "seed.txt")
        assert fetch_signed(cell, item["signedURL"]) == SEED
    else:
        assert item == {"error": "Either the object does not exist or you do not have access to it",
                        "path": "seed.txt", "signedURL": None}


@operation("sign_upload")
def sign_upload(cell, outcome):
    response = cell.http.post(cell.path("new.txt", "object/upload/sign"), headers=cell.headers)
    if outcome == ALLOWED:
        url = ok(response).json()["url"]
        cell.server.assert_nothing_left(cell.bucket, "new.txt")  # minting a URL writes nothing
        assert ok(cell.http.put(url, content=NEW)).json() == {"Key": f"{cell.bucket}/new.txt"}
        cell.assert_new_object("new.txt", NEW)
    else:
        expect_denial(response, outcome)
        cell.server.assert_nothing_left(cell.bucket, "new.txt")
    cell.server.assert_consistent(cell.bucket)


def tus_metadata(**values) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


@operation("tus_create")
def tus_create(cell, outcome):
    tus = {"Tus-Resumable": "1.0.0"}
    response = cell.http.post("/upload/resumable", headers={
        **cell.headers, **tus, "Upload-Length": str(len(NEW)),
        "Upload-Metadata": tus_metadata(bucketName=cell.bucket, objectName="new.txt")})
    if outcome == ALLOWED:
        location = ok(response, 201).headers["location"]
        finished = cell.http.patch(location, content=NEW, headers={
            **cell.headers, **tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert ok(finished, 204).headers["upload-offset"] == str(len(NEW))
        cell.assert_new_object("new.txt", NEW)
    else:
        # TUS errors carry the real status and the message as plain text (§3.2).
        assert (response.status_code, response.text) == (403, RLS_DENIED[2])
        cell.server.assert_nothing_left(cell.bucket, "new.txt")
    cell.server.assert_consistent(cell.bucket)


@operation("render_authenticated", seeds=(("pic.png", tiny_png()),))
def render_authenticated(cell, outcome):
    response = cell.http.get(cell.path("pic.png", "render/image/authenticated"), headers=cell.headers,
                             params={"width": 8, "height": 8, "format": "origin"})
    if outcome == ALLOWED:
        image = Image.open(io.BytesIO(ok(response).content))
        assert (image.format, image.size) == ("PNG", (8, 8))
    else:
        expect_denial(response, outcome)


assert set(OPERATIONS) == set(REQUIREMENTS), set(OPERATIONS) ^ set(REQUIREMENTS)


@pytest.mark.parametrize("operation_name,role,set_name", list(cells()))
def test_cell(server, client, matrix_policies, operation_name, role, set_name):
    outcome = expected_outcome(operation_name, POLICY_SETS[set_name], role)
    run, options = OPERATIONS[operation_name]
    cell = Cell(server, client, role, set_name)
    try:
        cell.prepare(**options)
        run(cell, outcome)
    finally:
        cell.cleanup()


# The derivation itself, pinned on a few cells that the spec states outright.


def test_derivation_matches_the_spec_statements():
    """§2.3: upload needs INSERT; upsert INSERT+SELECT+UPDATE; delete SELECT+DELETE; move SELECT+UPDATE."""
    assert expected_outcome("upload", POLICY_SETS["insert_only"], "anon") == ALLOWED
    assert expected_outcome("put_existing", POLICY_SETS["select_insert"], "authenticated") == RLS
    assert expected_outcome("put_existing", POLICY_SETS["select_insert_update"], "authenticated") == ALLOWED
    assert expected_outcome("delete_one", POLICY_SETS["delete_only"], "authenticated") == NO_SUCH_KEY
    assert expected_outcome("delete_one", POLICY_SETS["select_only"], "authenticated") == ACCESS_DENIED
    assert expected_outcome("move", POLICY_SETS["select_only"], "authenticated") == NO_SUCH_KEY
    assert expected_outcome("move", POLICY_SETS["owner_only_foreign"], "authenticated") == NO_SUCH_KEY
    assert expected_outcome("upload", POLICY_SETS["owner_only_foreign"], "authenticated") == ALLOWED
    assert expected_outcome("download", POLICY_SETS["all_to_authenticated"], "anon") == NO_SUCH_KEY
    assert expected_outcome("public_download", POLICY_SETS["none"], "anon") == ALLOWED
    assert expected_outcome("delete_bucket", POLICY_SETS["none"], "service_role") == ALLOWED
