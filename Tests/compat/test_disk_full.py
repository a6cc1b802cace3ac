"""A full disk in file mode (issue 6, fault tests): the upload that does not fit fails with a clean
5xx envelope, leaves no partial file, no row and no temporary file, and the server keeps serving
once space is back. The storage folder is a small tmpfs (needs root to mount, as CI has)."""

import os
import subprocess

import httpx
import pytest

from conftest import MODE, SERVICE_KEY, Server, scratch_database, service_headers

pytestmark = pytest.mark.skipif(MODE != "file", reason="the disk is the backend only in file mode")
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory):
    mount_point = tmp_path_factory.mktemp("small-disk")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    base = tmp_path_factory.mktemp("disk-server")
    try:
        with scratch_database("compat_disk") as database_url:
            instance = Server(os.environ["STORAGE_API_BINARY"], database_url, mount_point / "storage",
                              base / "server.log")
            instance.start()
            instance.client(SERVICE_KEY).create_bucket("disk")
            yield instance
            instance.stop()
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def upload(server, name, data, chunked=False):
    body = iter([data[i:i + MiB] for i in range(0, len(data), MiB)]) if chunked else data
    return httpx.post(f"{server.url}/object/disk/{name}", content=body, timeout=60,
                      headers=service_headers(**{"Content-Type": "application/octet-stream"}))


def used_bytes(server) -> int:
    return sum(p.stat().st_size for p in server.storage_dir.rglob("*") if p.is_file())


@pytest.mark.parametrize("chunked", [False, True])
def test_an_upload_that_does_not_fit_leaves_nothing(small_disk, chunked):
    assert upload(small_disk, "fits.bin", b"f" * (2 * MiB)).status_code == 200
    before = used_bytes(small_disk)
    response = upload(small_disk, f"too-big-{chunked}.bin", os.urandom(8 * MiB), chunked=chunked)
    assert response.status_code == 500
    assert response.json() == {"statusCode": "500", "error": "internal", "code": "S3Error",
                               "message": "The storage backend is out of space"}
    small_disk.assert_nothing_left("disk", f"too-big-{chunked}.bin")
    assert used_bytes(small_disk) == before
    # Still serving: reads, and writes that fit.
    client = small_disk.client(SERVICE_KEY).from_("disk")
    assert client.download("fits.bin") == b"f" * (2 * MiB)
    assert upload(small_disk, f"small-{chunked}.bin", b"s" * MiB).status_code == 200
    assert client.download(f"small-{chunked}.bin") == b"s" * MiB
    client.remove(["fits.bin", f"small-{chunked}.bin"])
    assert httpx.get(f"{small_disk.url}/health").status_code == 200
