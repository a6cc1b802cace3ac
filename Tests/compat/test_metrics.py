"""`GET /metrics` (contract §5.12): Prometheus text with requests by route and status, latency
histograms, bytes in and out, uploads in progress, DB pool use, image transforms."""

import re

import httpx

from conftest import lone_server, service_headers


def metrics(server) -> str:
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def value(text: str, name: str, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total, found = 0.0, False
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        sample_labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(sample_labels.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
            found = True
    assert found, f"no sample {name} {labels}"
    return total


def test_metrics_count_requests_bytes_and_pool(server, service, bucket, http):
    before = metrics(server)
    sent_before = value(before, "storage_http_sent_bytes_total")
    received_before = value(before, "storage_http_received_bytes_total")
    payload = b"m" * 100_000
    assert http.post(f"/object/{bucket}/metrics.bin", content=payload,
                     headers=service_headers(**{"Content-Type": "application/octet-stream"})).status_code == 200
    assert http.get(f"/object/{bucket}/metrics.bin", headers=service_headers()).content == payload
    assert http.get(f"/object/{bucket}/missing.bin", headers=service_headers()).status_code == 400
    text = metrics(server)
    route = "/storage/v1/object/{bucket}/**"
    assert value(text, "storage_http_requests_total", route=route, method="GET", status="200") >= 1
    assert value(text, "storage_http_requests_total", route=route, method="GET", status="400") >= 1
    assert value(text, "storage_http_requests_total", route=route, method="POST", status="200") >= 1
    assert value(text, "storage_http_request_duration_seconds_count", route=route, method="GET") >= 2
    assert value(text, "storage_http_received_bytes_total") - received_before >= len(payload)
    assert value(text, "storage_http_sent_bytes_total") - sent_before >= len(payload)
    assert value(text, "storage_db_pool_size") == 20
    assert value(text, "storage_db_transactions_in_progress") >= 0
    assert value(text, "storage_uploads_in_progress") == 0
    # Never a token in the output.
    assert "Bearer" not in text and "eyJ" not in text


def test_metrics_report_renders(server, service, make_bucket, http):
    import io
    from PIL import Image
    public = make_bucket(public=True)
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(out, "PNG")
    service.from_(public).upload("m.png", out.getvalue(), {"content-type": "image/png"})
    for _ in range(2):
        assert http.get(f"/render/image/public/{public}/m.png", params={"width": 8}).status_code == 200
    text = metrics(server)
    assert value(text, "storage_renders_total", outcome="rendered") >= 1
    assert value(text, "storage_renders_total", outcome="cache_hit") >= 1
    assert value(text, "storage_render_workers_busy") == 0
    assert value(text, "storage_render_queue_length") == 0


def test_metrics_can_be_switched_off(tmp_path):
    """`PROMETHEUS_METRICS_ENABLED=false` (upstream's name): no `/metrics` route, the rest unchanged."""
    with lone_server(tmp_path, "compat_nometrics", {"PROMETHEUS_METRICS_ENABLED": "false"}) as instance:
        response = httpx.get(f"{instance.url}/metrics")
        assert response.status_code == 404
        assert response.json() == {"statusCode": 404, "error": "Not Found", "message": "Route GET:/metrics not found"}
        assert httpx.get(f"{instance.url}/status").status_code == 200
        assert httpx.get(f"{instance.url}/health").json()["healthy"] is True
