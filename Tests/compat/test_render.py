"""Image render routes (contract §5.10): libvips in-process, checked by decoding the
responses with Pillow; the variant cache; refusals of bad and oversized sources; load shedding."""

import concurrent.futures
import io
import os
import uuid

import httpx
import pytest
from PIL import Image

from conftest import (MODE, SERVICE_KEY, S3Location, Server, bearer, bucket_factory, lone_server, scratch_database,
                      rss_kib, service_headers, user_token)

TENANT = "storage-single-tenant"


def image_bytes(width, height, fmt="JPEG", color=(200, 30, 30), **save):
    image = Image.new("RGB", (width, height), color)
    # Some structure, so encoders and crops have something to work on.
    for x in range(0, width, max(1, width // 8)):
        for y in range(height):
            image.putpixel((x, y), (0, 0, 255))
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def decode(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


@pytest.fixture(scope="module")
def photos(server, service, make_bucket):
    """A public bucket with a 1200×800 JPEG, a 600×600 PNG with alpha and a 400×300 WebP."""
    bucket = make_bucket(public=True)
    files = service.from_(bucket)
    files.upload("photo.jpg", image_bytes(1200, 800, "JPEG"), {"content-type": "image/jpeg"})
    png = Image.new("RGBA", (600, 600), (0, 128, 0, 128))
    out = io.BytesIO()
    png.save(out, "PNG")
    files.upload("alpha.png", out.getvalue(), {"content-type": "image/png"})
    files.upload("small.webp", image_bytes(400, 300, "WEBP"), {"content-type": "image/webp"})
    return bucket


@pytest.fixture(scope="module")
def make_bucket(server, service):
    with bucket_factory(service) as make:
        yield make


def render(http, bucket, name, route="public", headers=None, **params):
    return http.get(f"/render/image/{route}/{bucket}/{name}", params=params, headers=headers or {})


def test_public_render_resizes_and_reports(server, http, photos):
    response = render(http, photos, "photo.jpg", width=300, height=200, format="origin")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-transformations"] == "height:200,width:300,resizing_type:fill"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["etag"]
    image = decode(response.content)
    assert (image.format, image.size) == ("JPEG", (300, 200))
    # Info and HEAD only echo the parameters.
    info = http.get(f"/object/info/public/{photos}/photo.jpg", params={"width": 10, "height": 20})
    assert info.headers["x-transformations"] == "height:20,width:10,resizing_type:fill"
    assert info.json()["name"] == "photo.jpg"


@pytest.mark.parametrize("resize,expected", [("cover", (200, 200)), ("contain", (200, 133)), ("fill", (200, 200))])
def test_resize_modes(server, http, photos, resize, expected):
    response = render(http, photos, "photo.jpg", width=200, height=200, resize=resize, format="origin")
    assert response.status_code == 200, response.text
    image = decode(response.content)
    assert image.size == expected
    names = {"cover": "fill", "contain": "fit", "fill": "force"}
    assert f"resizing_type:{names[resize]}" in response.headers["x-transformations"]


def test_fill_stretches_while_cover_crops(server, http, photos):
    # A 1200×800 source into 100×100: cover crops the sides (the blue stripes keep their width),
    # fill squeezes them.
    cover = decode(render(http, photos, "photo.jpg", width=100, height=100, resize="cover", format="origin").content)
    fill = decode(render(http, photos, "photo.jpg", width=100, height=100, resize="fill", format="origin").content)
    assert cover.size == fill.size == (100, 100)
    assert list(cover.getdata()) != list(fill.getdata())


def test_one_side_keeps_the_aspect_ratio(server, http, photos):
    image = decode(render(http, photos, "photo.jpg", width=600, format="origin").content)
    assert image.size == (600, 400)
    image = decode(render(http, photos, "photo.jpg", height=100, format="origin").content)
    assert image.size == (150, 100)


def test_sizes_are_clamped_and_never_enlarge(server, http, photos):
    response = render(http, photos, "photo.jpg", width=5000, format="origin")
    assert response.status_code == 200
    assert "width:2000" in response.headers["x-transformations"]
    # The source is 1200 wide: downsizing only, as imgproxy without enlarge.
    assert decode(response.content).size == (1200, 800)


def test_formats(server, http, photos):
    webp = render(http, photos, "photo.jpg", width=100, format="webp")
    assert webp.headers["content-type"] == "image/webp"
    assert decode(webp.content).format == "WEBP"
    assert "format:webp" in webp.headers["x-transformations"]
    avif = render(http, photos, "small.webp", width=64, format="avif")
    assert avif.status_code == 200, avif.text
    assert avif.headers["content-type"] == "image/avif"
    assert avif.content[4:12] == b"ftypavif"
    png = render(http, photos, "alpha.png", width=100, format="origin")
    image = decode(png.content)
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (100, 100))


def test_format_follows_accept_unless_origin(server, http, photos):
    browser = {"Accept": "image/avif,image/webp,image/apng,*/*;q=0.8"}
    auto = render(http, photos, "photo.jpg", width=120, headers=browser)
    assert auto.headers["content-type"] == "image/webp"
    assert auto.headers["vary"] == "Accept"
    plain = render(http, photos, "photo.jpg", width=120, headers={"Accept": "*/*"})
    assert plain.headers["content-type"] == "image/jpeg"
    origin = render(http, photos, "photo.jpg", width=120, format="origin", headers=browser)
    assert origin.headers["content-type"] == "image/jpeg"
    avif_only = render(http, photos, "small.webp", width=50, headers={"Accept": "image/avif"})
    assert avif_only.headers["content-type"] == "image/avif"


def test_quality_changes_size_and_is_bounded(server, http, photos):
    low = render(http, photos, "photo.jpg", width=800, quality=20, format="origin")
    high = render(http, photos, "photo.jpg", width=800, quality=100, format="origin")
    assert low.status_code == high.status_code == 200
    assert len(low.content) < len(high.content)
    assert "quality:20" in low.headers["x-transformations"]
    for quality in (19, 101, "best"):
        bad = render(http, photos, "photo.jpg", width=100, quality=quality)
        assert bad.status_code == 400, quality
        assert bad.json()["statusCode"] == "400"
    for params in ({"width": -1}, {"height": "tall"}, {"resize": "stretch"}, {"format": "gif"}):
        bad = render(http, photos, "photo.jpg", **params)
        assert bad.status_code == 400, params


def test_download_parameter(server, http, photos):
    response = render(http, photos, "photo.jpg", width=50, download="thumb.jpg", format="origin")
    assert response.headers["content-disposition"] == "attachment; filename=thumb.jpg; filename*=UTF-8''thumb.jpg"


def test_storage3_transform_urls(server, service, photos):
    files = service.from_(photos)
    public_url = files.get_public_url("photo.jpg", {"transform": {"width": 150, "height": 150, "resize": "contain"}})
    assert "/render/image/public/" in public_url
    image = decode(httpx.get(public_url).content)
    assert image.size == (150, 100)
    # Authenticated download with a transform.
    content = files.download("photo.jpg", {"transform": {"width": 90, "height": 60, "format": "origin"}})
    assert decode(content).size == (90, 60)
    # A signed render URL carries its transformations in the token.
    signed = files.create_signed_url("photo.jpg", 60, {"transform": {"width": 64, "height": 64}})
    assert "/render/image/sign/" in signed["signedURL"]
    response = httpx.get(signed["signedURL"], headers={"Accept": "image/jpeg"})
    assert response.status_code == 200, response.text
    assert decode(response.content).size == (64, 64)
    assert "expires" in response.headers and "cache-control" not in response.headers
    # The query cannot change what the token allows.
    tampered = httpx.get(signed["signedURL"] + "&width=1000", headers={"Accept": "image/jpeg"})
    assert decode(tampered.content).size == (64, 64)


def halves(width, height, first=(255, 0, 0), second=(0, 0, 255)):
    """A PNG split in two along its long side: `first` left (or top), `second` right (or bottom)."""
    image = Image.new("RGB", (width, height), second)
    image.paste(first, (0, 0, width // 2, height) if width >= height else (0, 0, width, height // 2))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def colours(content: bytes) -> set:
    """The colours of a rendered PNG, rounded (resampling blends only at the seam)."""
    image = decode(content).convert("RGB")
    return {tuple(round(c / 85) * 85 for c in pixel) for pixel in image.getdata()}


RED, BLUE = {(255, 0, 0)}, {(0, 0, 255)}


@pytest.fixture(scope="module")
def strips(server, service, make_bucket):
    """A public bucket with a 400×100 (red | blue) and a 100×400 (red over blue) PNG."""
    bucket = make_bucket(public=True)
    files = service.from_(bucket)
    files.upload("wide.png", halves(400, 100), {"content-type": "image/png"})
    files.upload("tall.png", halves(100, 400), {"content-type": "image/png"})
    return bucket


@pytest.mark.parametrize("name, params, expected", [
    ("wide.png", {"gravity": "we"}, RED),
    ("wide.png", {"gravity": "ea"}, BLUE),
    ("wide.png", {"gravity": "nowe"}, RED),
    ("wide.png", {"gravity": "soea"}, BLUE),
    ("wide.png", {"gravity": "we", "x_offset": 250}, BLUE),  # pixels from the west edge
    ("wide.png", {"gravity": "ea", "x_offset": 0.7}, RED),  # below 1: a fraction of the width
    ("wide.png", {"gravity": "ce", "x_offset": -100}, RED),  # the centre moved west
    ("wide.png", {"gravity": "fp", "x_offset": 0.85, "y_offset": 0.5}, BLUE),
    ("wide.png", {"gravity": "ea", "x_offset": 5000}, RED),  # pushed past the edge: kept inside
    ("wide.png", {"gravity": "ce", "x_offset": 1e300}, BLUE),  # any finite number: bounded, no crash
    ("tall.png", {"gravity": "no"}, RED),
    ("tall.png", {"gravity": "so"}, BLUE),
    ("tall.png", {"gravity": "so", "y_offset": 250}, RED),
    ("tall.png", {"gravity": "we"}, RED | BLUE),  # no horizontal overflow: the centre, both halves
])
def test_gravity_places_the_crop(server, http, strips, name, params, expected):
    response = render(http, strips, name, width=100, height=100, format="origin", **params)
    assert response.status_code == 200, response.text
    assert decode(response.content).size == (100, 100)
    assert colours(response.content) == expected, params


def test_gravity_is_reported_cached_apart_and_validated(server, http, strips):
    west = render(http, strips, "wide.png", width=100, height=100, format="origin", gravity="we", x_offset=10)
    assert west.headers["x-transformations"] == "height:100,width:100,resizing_type:fill,gravity:we:10:0"
    again = render(http, strips, "wide.png", width=100, height=100, format="origin", gravity="we", x_offset=10)
    assert again.headers["x-render-cache"] == "hit" and again.content == west.content
    east = render(http, strips, "wide.png", width=100, height=100, format="origin", gravity="ea", x_offset=3)
    assert east.headers["x-render-cache"] == "miss" and east.content != west.content
    # A centred cut is the same variant as no gravity at all.
    render(http, strips, "wide.png", width=100, height=100, format="origin")
    centred = render(http, strips, "wide.png", width=100, height=100, format="origin", gravity="ce")
    assert centred.headers["x-render-cache"] == "hit"
    smart = render(http, strips, "wide.png", width=100, height=100, format="origin", gravity="sm")
    assert smart.status_code == 200 and decode(smart.content).size == (100, 100)
    for params, message in [
        ({"gravity": "north"}, "querystring/gravity must be equal to one of the allowed values"),
        ({"gravity": "no", "x_offset": "left"}, "querystring/x_offset must be number"),
        ({"gravity": "fp", "x_offset": 0.5}, "querystring must have required property 'y_offset'"),
        ({"gravity": "fp", "x_offset": 2, "y_offset": 0.5}, "querystring/x_offset must be <= 1"),
    ]:
        refused = render(http, strips, "wide.png", width=100, height=100, **params)
        assert refused.status_code == 400, params
        body = refused.json()
        assert (body["statusCode"], body["error"], body["message"]) == ("400", "Error", message), params


def test_storage3_gravity_flows(server, service, strips):
    """storage3's transform options go into the query (public) or the token (signed) as given."""
    files = service.from_(strips)
    public_url = files.get_public_url("wide.png", {"transform": {"width": 100, "height": 100, "format": "origin",
                                                                 "gravity": "ea"}})
    assert "gravity=ea" in public_url
    assert colours(httpx.get(public_url).content) == BLUE
    signed = files.create_signed_url("wide.png", 60, {"transform": {"width": 100, "height": 100, "format": "origin",
                                                                    "gravity": "we", "x_offset": 250}})
    assert "/render/image/sign/" in signed["signedURL"]
    response = httpx.get(signed["signedURL"])
    assert response.status_code == 200, response.text
    assert colours(response.content) == BLUE
    # The token decides: gravity in the query of a signed URL changes nothing.
    tampered = httpx.get(signed["signedURL"] + "&gravity=ea&x_offset=0")
    assert tampered.content == response.content
    content = files.download("tall.png", {"transform": {"width": 100, "height": 100, "format": "origin", "gravity": "so"}})
    assert colours(content) == BLUE


SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
       b'<rect width="100" height="100" fill="#ff0000"/><rect x="100" width="100" height="100" fill="#0000ff"/></svg>')
HOSTILE_SVG = (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY leak SYSTEM "file:///etc/passwd">]>'
               b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="40" height="40"'
               b' onload="alert(1)"><script>alert(2)</script>'
               b'<image xlink:href="file:///etc/passwd" width="40" height="40"/>'
               b'<foreignObject width="40" height="40"><iframe xmlns="http://www.w3.org/1999/xhtml" src="https://x.example/"/>'
               b'</foreignObject><a href="javascript:alert(3)"><rect width="40" height="40" fill="#ff0000"/></a>'
               b'<text>&leak;</text></svg>')


def test_svg_sources(server, service, make_bucket, http):
    """SVG sources (upstream's imgproxy serves them): the sanitized SVG itself without a raster
    format, rasterized with one; storage3's signed-transform flow, the live suite's failing case."""
    import xml.etree.ElementTree as ElementTree
    bucket = make_bucket(public=True)
    files = service.from_(bucket)
    files.upload("logo.svg", SVG, {"content-type": "image/svg+xml"})
    files.upload("hostile.svg", HOSTILE_SVG, {"content-type": "image/svg+xml"})
    signed = files.create_signed_url("logo.svg", 60, {"transform": {"width": 100, "height": 100}})
    assert "/render/image/sign/" in signed["signedURL"]
    response = httpx.get(signed["signedURL"], headers={"Accept": "image/webp,image/avif,*/*"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"
    assert "vary" not in response.headers  # the client's Accept does not turn an SVG into WebP
    root = ElementTree.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and len(root) == 2
    assert [r.get("fill") for r in root] == ["#ff0000", "#0000ff"]
    assert httpx.get(signed["signedURL"]).headers["x-render-cache"] == "hit"
    # A raster format rasterizes (librsvg through libvips), with every option, gravity included.
    webp = render(http, bucket, "logo.svg", width=100, format="webp")
    assert webp.status_code == 200, webp.text
    assert webp.headers["content-type"] == "image/webp"
    image = decode(webp.content)
    assert (image.format, image.size) == ("WEBP", (100, 50))
    east = render(http, bucket, "logo.svg", width=50, height=50, format="webp", gravity="ea")
    assert colours(east.content) == BLUE
    signed_raster = files.create_signed_url("logo.svg", 60, {"transform": {"width": 40, "height": 40, "format": "avif"}})
    raster = httpx.get(signed_raster["signedURL"])
    assert raster.status_code == 200 and raster.headers["content-type"] == "image/avif"
    # A hostile SVG: what runs or reaches outside the document is gone, the drawing stays.
    hostile = render(http, bucket, "hostile.svg", format="origin")
    assert hostile.status_code == 200 and hostile.headers["content-type"] == "image/svg+xml"
    for banned in (b"script", b"alert", b"onload", b"passwd", b"ENTITY", b"leak", b"foreignObject", b"iframe",
                   b"javascript", b"x.example"):
        assert banned not in hostile.content, banned
    assert b'<rect width="40" height="40" fill="#ff0000"/>' in hostile.content
    ElementTree.fromstring(hostile.content)
    hostile_png = render(http, bucket, "hostile.svg", width=20, format="webp")
    assert hostile_png.status_code == 200
    assert decode(hostile_png.content).size == (20, 20) and colours(hostile_png.content) == RED
    # Not an SVG although typed as one, or SVG text typed as PNG: refused like any bad source.
    files.upload("broken.svg", b"<svg><rect></svg>", {"content-type": "image/svg+xml"})
    files.upload("svg-as.png", SVG, {"content-type": "image/png"})
    for name in ("broken.svg", "svg-as.png"):
        refused = render(http, bucket, name, width=10, format="webp")
        assert refused.status_code == 400 and refused.json()["message"] == \
            "The source image is invalid or unsupported for rendering", name
    # A declared size over the pixel bound is refused before librsvg draws it.
    files.upload("huge.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10000" height="10000"/>',
                 {"content-type": "image/svg+xml"})
    assert render(http, bucket, "huge.svg", width=10, format="webp").json()["message"] == \
        "The source image resolution is too large to process"
    assert httpx.get(f"{server.url}/status").status_code == 200


def test_private_buckets_need_rls(server, service, make_bucket, http):
    private = make_bucket()
    service.from_(private).upload("p.jpg", image_bytes(300, 200), {"content-type": "image/jpeg"})
    assert render(http, private, "p.jpg", width=10).json()["error"] == "Bucket not found"
    denied = render(http, private, "p.jpg", route="authenticated", width=10,
                    headers=bearer(user_token("00000000-0000-0000-0000-000000000002")))
    assert denied.status_code == 400 and denied.json()["error"] == "not_found"
    allowed = render(http, private, "p.jpg", route="authenticated", width=10, headers=service_headers())
    assert allowed.status_code == 200
    missing_jwt = render(http, private, "p.jpg", route="authenticated", width=10)
    assert missing_jwt.status_code in (400, 403)


def test_bad_sources_are_refused_cleanly(server, service, photos, http):
    files = service.from_(photos)
    files.upload("notes.txt", b"not an image at all", {"content-type": "text/plain"})
    corrupt = bytearray(image_bytes(800, 600))
    corrupt[300:3000] = os.urandom(2700)
    files.upload("corrupt.jpg", bytes(corrupt[: len(corrupt) // 2]), {"content-type": "image/jpeg"})
    files.upload("fake.png", b"\x89PNG\r\n\x1a\n" + os.urandom(500), {"content-type": "image/png"})
    for name in ("notes.txt", "corrupt.jpg", "fake.png"):
        response = render(http, photos, name, width=100, format="origin")
        assert response.status_code == 400, (name, response.status_code, response.content[:100])
        assert response.json() == {"statusCode": "400", "error": "InvalidRequest", "code": "InvalidRequest",
                                   "message": "The source image is invalid or unsupported for rendering"}
    missing = render(http, photos, "absent.jpg", width=100)
    assert missing.json()["error"] == "not_found"
    assert httpx.get(f"{server.url}/status").status_code == 200


def test_sixty_megapixels_are_refused(server, service, photos, http):
    # 7800×7800 = 60.8 megapixels, a few hundred kilobytes as a flat JPEG.
    big = Image.new("RGB", (7800, 7800), (10, 10, 10))
    out = io.BytesIO()
    big.save(out, "JPEG", quality=50)
    service.from_(photos).upload("huge.jpg", out.getvalue(), {"content-type": "image/jpeg"})
    response = render(http, photos, "huge.jpg", width=100)
    assert response.status_code == 400
    assert response.json()["message"] == "The source image resolution is too large to process"


def variant_keys(server, bucket, name=""):
    """Cached variants under the render prefix (of one object, or of the bucket)."""
    if MODE == "file":
        root = server.storage_dir / "stub" / "__render" / TENANT / bucket
        if name:
            root = root / name
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
    prefix = f"__render/{TENANT}/{bucket}" + (f"/{name}/" if name else "/")
    return S3Location(server.s3, server.backend_bucket, prefix.rstrip("/")).keys()


def test_variant_cache_hits_and_follows_the_object(server, service, make_bucket, http):
    bucket = make_bucket(public=True)
    files = service.from_(bucket)
    files.upload("c.jpg", image_bytes(640, 480), {"content-type": "image/jpeg"})
    first = render(http, bucket, "c.jpg", width=100, height=100, format="webp")
    second = render(http, bucket, "c.jpg", width=100, height=100, format="webp")
    assert first.headers["x-render-cache"] == "miss"
    assert second.headers["x-render-cache"] == "hit"
    assert first.content == second.content
    assert second.headers["content-type"] == "image/webp"
    # Equivalent requests share one variant: default quality spelled out, default resize spelled out.
    third = render(http, bucket, "c.jpg", width=100, height=100, format="webp", quality=80, resize="cover")
    assert third.headers["x-render-cache"] == "hit"
    assert len(variant_keys(server, bucket, "c.jpg")) == 1
    # A new version: the old variants go, the next render is a miss with the new pixels.
    files.update("c.jpg", image_bytes(640, 480, color=(0, 200, 0)), {"content-type": "image/jpeg"})
    assert variant_keys(server, bucket, "c.jpg") == []
    after = render(http, bucket, "c.jpg", width=100, height=100, format="webp")
    assert after.headers["x-render-cache"] == "miss"
    assert after.content != first.content
    # Move takes the variants of the moved version away; delete removes the rest.
    files.move("c.jpg", "d.jpg")
    assert variant_keys(server, bucket, "c.jpg") == []
    render(http, bucket, "d.jpg", width=50, format="webp")
    assert len(variant_keys(server, bucket, "d.jpg")) == 1
    files.remove(["d.jpg"])
    assert variant_keys(server, bucket) == []


def test_non_image_rows_are_not_cached(server, service, make_bucket, http):
    bucket = make_bucket(public=True)
    service.from_(bucket).upload("typed-wrong.bin", image_bytes(200, 100), {"content-type": "application/octet-stream"})
    response = render(http, bucket, "typed-wrong.bin", width=20, format="origin")
    assert response.status_code == 200 and decode(response.content).size == (20, 10)
    assert render(http, bucket, "typed-wrong.bin", width=20, format="origin").headers["x-render-cache"] == "miss"
    assert variant_keys(server, bucket) == []


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory):
    """A server with one image worker, a queue of two and no variant cache."""
    base = tmp_path_factory.mktemp("render")
    env = {"IMAGE_TRANSFORMATION_WORKERS": "1", "IMAGE_TRANSFORMATION_QUEUE_SIZE": "2",
           "IMAGE_TRANSFORMATION_CACHE_ENABLED": "false"}
    with scratch_database("compat_render") as database_url:
        instance = Server(os.environ["STORAGE_API_BINARY"], database_url, base / "storage", base / "server.log",
                          extra_env=env)
        instance.start()
        yield instance
        instance.stop()


def test_hundred_concurrent_renders_complete_or_shed(small_pool):
    client = small_pool.client(SERVICE_KEY)
    bucket = f"load-{uuid.uuid4().hex[:8]}"
    client.create_bucket(bucket, options={"public": True})
    client.from_(bucket).upload("big.jpg", image_bytes(2000, 1333, quality=90), {"content-type": "image/jpeg"})
    url = f"{small_pool.url}/render/image/public/{bucket}/big.jpg?width=500&height=500&format=webp"
    idle = rss_kib(small_pool.process.pid)

    def fetch(_):
        response = httpx.get(url, timeout=120)
        return response.status_code, response

    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(fetch, range(100)))
    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= 3
    assert statuses.count(429) > 0, "a pool of one with a queue of two must shed some of 100 requests"
    shed = next(response for status, response in results if status == 429)
    assert shed.json()["statusCode"] == "429" and shed.json()["error"] == "too_many_requests"
    for status, response in results:
        if status == 200:
            assert decode(response.content).size == (500, 500)
    peak = rss_kib(small_pool.process.pid)
    assert peak - idle < 256 * 1024, f"RSS grew by {(peak - idle) // 1024} MiB"
    # Nothing cached when the cache is off, and the server is still healthy.
    assert httpx.get(url).headers["x-render-cache"] == "miss"
    assert httpx.get(f"{small_pool.url}/health").status_code == 200
    client.empty_bucket(bucket)
    client.delete_bucket(bucket)


def test_render_routes_can_be_disabled(tmp_path):
    with lone_server(tmp_path, "compat_norender", {"IMAGE_TRANSFORMATION_ENABLED": "false"}) as instance:
        response = httpx.get(f"{instance.url}/render/image/public/b/x.jpg?width=10")
        assert response.status_code == 404
        assert response.json()["message"] == "Route GET:/render/image/public/b/x.jpg?width=10 not found"
