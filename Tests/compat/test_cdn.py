"""Cache purges (`DELETE /cdn…`, storage-js `purgeCache` and `purgeBucketCache`; contract §5.13):
the service role only; `?transformations=true` drops this server's rendered variants under the
scope, rows and bytes; with `CDN_PURGE_ENDPOINT_URL` set, the CDN gets upstream's purge body."""

import http.server
import io
import json
import threading

import httpx
import pytest
from PIL import Image
from storage3.exceptions import StorageApiError

from conftest import ANON_KEY, SERVICE_KEY, bearer, bucket_factory, lone_server, service_headers, user_token
from test_render import variant_keys

TENANT = "storage-single-tenant"
SUCCESS = {"message": "success", "statusCode": "200"}
CDN_KEY = "compat-cdn-key"


def png(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "PNG")
    return out.getvalue()


def purge(files, *path, transformations=None):
    """A purge through storage3's own request path (its headers, its error mapping), as
    storage-js's `purgeCache(path, {transformations})` sends it."""
    query = {"transformations": "true"} if transformations else None
    return files._request("DELETE", ["cdn", *path], query_params=query).json()


class CDN:
    """A CDN purge endpoint: records every request; `status` is what it answers."""

    def __init__(self):
        self.requests = []
        self.status = 200
        cdn = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                cdn.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "json": json.loads(body)})
                self.send_response(cdn.status)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cache"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def make_bucket(server, service):
    with bucket_factory(service) as make:
        yield make


def rendered(server, bucket, name, width=16):
    response = httpx.get(f"{server.url}/render/image/public/{bucket}/{name}", params={"width": width, "format": "origin"})
    assert response.status_code == 200, response.text
    return response.headers["x-render-cache"]


def variant_rows(server, prefix):
    return server.sql("select count(*) from storage_api.render_variants where starts_with(key, %s)", prefix)[0][0]


def test_purges_drop_variants_by_scope(server, service, make_bucket):
    first, second = make_bucket(public=True), make_bucket(public=True)
    for bucket in (first, second):
        for name in ("a.png", "folder/b.png", "a.png2"):
            service.from_(bucket).upload(name, png((200, 10, 10)), {"content-type": "image/png"})
            assert rendered(server, bucket, name) == "miss"
    files = service.from_(first)
    # Without transformations there is nothing of this server's to drop: variants stay.
    assert purge(files, first, "a.png") == SUCCESS
    assert rendered(server, first, "a.png") == "hit"
    # One object: its variants go (rows and bytes), not those of a name it is a prefix of.
    assert purge(files, first, "a.png", transformations=True) == SUCCESS
    assert variant_keys(server, first, "a.png") == []
    assert variant_rows(server, f"__render/{TENANT}/{first}/a.png/") == 0
    assert len(variant_keys(server, first, "a.png2")) == 1
    assert rendered(server, first, "a.png2") == "hit"
    assert rendered(server, first, "a.png") == "miss"
    # A key in a folder, and the same with its slash percent-encoded.
    assert purge(files, first, "folder", "b.png", transformations=True) == SUCCESS
    assert variant_keys(server, first, "folder/b.png") == []
    rendered(server, first, "folder/b.png")
    encoded = httpx.delete(f"{server.url}/cdn/{first}/folder%2Fb.png?transformations=true", headers=service_headers())
    assert (encoded.status_code, encoded.json()) == (200, SUCCESS)
    assert variant_keys(server, first, "folder/b.png") == []
    # A bucket: every variant in it, none of the other bucket's.
    rendered(server, first, "folder/b.png")
    assert purge(files, first, transformations=True) == SUCCESS
    assert variant_keys(server, first) == []
    assert variant_rows(server, f"__render/{TENANT}/{first}/") == 0
    assert len(variant_keys(server, second)) == 3
    # The tenant: everything.
    assert purge(files, transformations=True) == SUCCESS
    assert variant_keys(server, second) == []
    assert variant_rows(server, f"__render/{TENANT}/") == 0
    # The objects themselves are untouched.
    assert service.from_(second).download("folder/b.png") == png((200, 10, 10))
    assert rendered(server, second, "a.png") == "miss"


def test_purges_are_for_the_service_role(server, service, make_bucket):
    bucket = make_bucket(public=True)
    service.from_(bucket).upload("x.png", png((1, 2, 3)), {"content-type": "image/png"})
    rendered(server, bucket, "x.png")
    for headers in (bearer(ANON_KEY), bearer(user_token("00000000-0000-0000-0000-000000000009"))):
        for path in (f"/cdn/{bucket}/x.png", f"/cdn/{bucket}", "/cdn"):
            response = httpx.delete(f"{server.url}{path}?transformations=true", headers=headers)
            assert response.status_code == 403, (path, response.text)
            assert response.json() == {"statusCode": "403", "error": "Unauthorized", "code": "AccessDenied",
                                       "message": "Access denied: Invalid role"}
    assert httpx.delete(f"{server.url}/cdn/{bucket}").status_code in (400, 403)
    assert len(variant_keys(server, bucket, "x.png")) == 1
    # storage3 maps the refusal to its own error, as for any route.
    with pytest.raises(StorageApiError) as refused:
        purge(server.client(ANON_KEY).from_(bucket), bucket, "x.png", transformations=True)
    assert refused.value.message == "Access denied: Invalid role"


def test_bad_purges_are_refused_cleanly(server, service, make_bucket):
    bucket = make_bucket(public=True)
    missing = httpx.delete(f"{server.url}/cdn/{bucket}/absent.png", headers=service_headers())
    assert missing.status_code == 400 and missing.json()["error"] == "not_found"
    no_bucket = httpx.delete(f"{server.url}/cdn/no-such-bucket-here/x.png", headers=service_headers())
    assert no_bucket.status_code == 400 and no_bucket.json()["error"] == "Bucket not found"
    flag = httpx.delete(f"{server.url}/cdn/{bucket}?transformations=yes", headers=service_headers())
    assert flag.status_code == 400
    assert flag.json()["message"] == "querystring/transformations must be boolean"
    # The root prefix answers the same as /storage/v1.
    root = httpx.delete(f"{server.root_url}/cdn/{bucket}", headers=service_headers())
    assert (root.status_code, root.json()) == (200, SUCCESS)
    assert httpx.get(f"{server.url}/cdn/{bucket}", headers=service_headers()).status_code == 404


@pytest.fixture(scope="module")
def cdn_server(tmp_path_factory):
    cdn = CDN()
    base = tmp_path_factory.mktemp("cdn")
    env = {"CDN_PURGE_ENDPOINT_URL": cdn.url + "?ignored=1", "CDN_PURGE_ENDPOINT_KEY": CDN_KEY}
    with lone_server(base, "compat_cdn", env) as instance:
        yield instance, cdn
    cdn.stop()


def test_purges_reach_the_cdn(cdn_server):
    server, cdn = cdn_server
    client = server.client(SERVICE_KEY)
    client.create_bucket("cdn-bucket", options={"public": True})
    files = client.from_("cdn-bucket")
    files.upload("dir/p.png", png((9, 9, 9)), {"content-type": "image/png"})
    rendered(server, "cdn-bucket", "dir/p.png")
    assert purge(files, "cdn-bucket", "dir", "p.png") == SUCCESS
    assert purge(files, "cdn-bucket", "dir", "p.png", transformations=True) == SUCCESS
    assert purge(files, "cdn-bucket") == SUCCESS
    assert purge(files, "cdn-bucket", transformations=True) == SUCCESS
    assert purge(files) == SUCCESS
    assert purge(files, transformations=True) == SUCCESS
    tenant = {"ref": TENANT}
    assert [r["json"] for r in cdn.requests] == [
        {"type": "object", "tenant": tenant, "bucketId": "cdn-bucket", "objectName": "dir/p.png"},
        {"type": "object-transforms", "tenant": tenant, "bucketId": "cdn-bucket", "objectName": "dir/p.png"},
        {"type": "bucket", "tenant": tenant, "bucketId": "cdn-bucket"},
        {"type": "bucket-transforms", "tenant": tenant, "bucketId": "cdn-bucket"},
        {"type": "tenant", "tenant": tenant},
        {"type": "tenant-transforms", "tenant": tenant},
    ]
    assert {r["path"] for r in cdn.requests} == {"/cache/purge"}
    assert {r["headers"]["authorization"] for r in cdn.requests} == {f"Bearer {CDN_KEY}"}
    assert {r["headers"]["content-type"] for r in cdn.requests} == {"application/json"}
    # A CDN that does not confirm: 500 `Error purging cache`; the local variants went first.
    rendered(server, "cdn-bucket", "dir/p.png")
    cdn.status = 503
    failed = httpx.delete(f"{server.url}/cdn/cdn-bucket/dir/p.png?transformations=true", headers=service_headers())
    assert failed.status_code == 500
    assert failed.json()["message"] == "Error purging cache"
    assert rendered(server, "cdn-bucket", "dir/p.png") == "miss"
    cdn.status = 200
    # A refused caller never reaches the CDN.
    before = len(cdn.requests)
    assert httpx.delete(f"{server.url}/cdn", headers=bearer(ANON_KEY)).status_code == 403
    assert len(cdn.requests) == before
    # As upstream: a public bucket made private is purged at the CDN, once, after the change;
    # private to private, or a change that is not about privacy, sends nothing.
    before = len(cdn.requests)
    client.update_bucket("cdn-bucket", {"public": False})
    client.update_bucket("cdn-bucket", {"public": False})
    client.update_bucket("cdn-bucket", {"file_size_limit": 1000})
    assert [r["json"] for r in cdn.requests[before:]] == [{"type": "bucket", "tenant": tenant, "bucketId": "cdn-bucket"}]
    # A CDN that does not confirm that purge does not undo or fail the committed change.
    client.update_bucket("cdn-bucket", {"public": True})
    cdn.status = 500
    client.update_bucket("cdn-bucket", {"public": False})
    cdn.status = 200
    assert client.get_bucket("cdn-bucket").public is False
    files.remove(["dir/p.png"])
    client.delete_bucket("cdn-bucket")
