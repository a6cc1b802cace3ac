"""The S3 tools users back up and sync buckets with, run as their own processes against `/s3`:
the AWS CLI (PyPI `awscli`), rclone and s3cmd (Debian). Files go up and come back byte for byte,
sizes that take the multipart path included, and what each tool wrote is what the REST API serves.
"""

import hashlib
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import S3_PROTOCOL_KEY, S3_PROTOCOL_SECRET

MiB = 1024 * 1024
BIN = pathlib.Path(sys.executable).parent


def run(command, env=None, check=True, timeout=300):
    # The machine's AWS_CA_BUNDLE is for TLS; rclone refuses to start with one on a plain-HTTP endpoint.
    base = {name: value for name, value in os.environ.items() if name != "AWS_CA_BUNDLE"}
    result = subprocess.run(command, env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{command[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def make_tree(root: pathlib.Path) -> dict[str, bytes]:
    """A folder with small files, an empty one, a nested one and one that takes the multipart path."""
    files = {
        "a.txt": b"alpha\n",
        "empty.bin": b"",
        "nested/deeper/b.bin": os.urandom(70_000),
        "nested/c with space.txt": b"spaced",
        "large.bin": os.urandom(17 * MiB + 17),
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def read_tree(root: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def stored(server, bucket, prefix) -> dict[str, int]:
    rows = server.sql(
        "select name, (metadata->>'size')::bigint from storage.objects where bucket_id = %s and name like %s",
        bucket, prefix + "%")
    return {name[len(prefix):]: size for name, size in rows}


@pytest.fixture
def aws(server, tmp_path):
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = {
        "AWS_ACCESS_KEY_ID": S3_PROTOCOL_KEY, "AWS_SECRET_ACCESS_KEY": S3_PROTOCOL_SECRET,
        "AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }

    def call(*arguments, check=True):
        return run([str(BIN / "aws"), "--endpoint-url", server.root_url + "/s3", *arguments], env=env, check=check)

    return call


def test_aws_cli_cp_sync_ls_rm(server, service, bucket, aws, tmp_path):
    files = make_tree(tmp_path / "up")
    aws("s3", "cp", str(tmp_path / "up" / "large.bin"), f"s3://{bucket}/single/large.bin")
    assert service.from_(bucket).download("single/large.bin") == files["large.bin"]
    etag = server.object_row(bucket, "single/large.bin")[2]["eTag"]
    assert etag.endswith('-3"'), etag  # 8 MiB parts: the CLI's multipart path

    aws("s3", "sync", str(tmp_path / "up"), f"s3://{bucket}/tree/")
    assert stored(server, bucket, "tree/") == {name: len(data) for name, data in files.items()}
    listing = aws("s3", "ls", "--recursive", f"s3://{bucket}/tree/").stdout
    assert sorted(line.split(maxsplit=3)[3] for line in listing.splitlines()) == sorted(f"tree/{name}" for name in files)
    # A second sync finds nothing to do.
    assert aws("s3", "sync", str(tmp_path / "up"), f"s3://{bucket}/tree/").stdout.strip() == ""

    aws("s3", "sync", f"s3://{bucket}/tree/", str(tmp_path / "down"))
    assert read_tree(tmp_path / "down") == files
    aws("s3", "cp", f"s3://{bucket}/single/large.bin", str(tmp_path / "large.back"))
    assert (tmp_path / "large.back").read_bytes() == files["large.bin"]

    aws("s3", "rm", "--recursive", f"s3://{bucket}/tree/")
    assert stored(server, bucket, "tree/") == {}
    missing = aws("s3", "cp", f"s3://{bucket}/tree/a.txt", str(tmp_path / "x"), check=False)
    assert missing.returncode != 0 and "404" in missing.stderr
    server.assert_consistent(bucket)


def test_aws_cli_s3api_wrong_secret(server, bucket, aws, tmp_path):
    result = run(
        [str(BIN / "aws"), "--endpoint-url", server.root_url + "/s3", "s3api", "list-objects-v2", "--bucket", bucket],
        env={"AWS_ACCESS_KEY_ID": S3_PROTOCOL_KEY, "AWS_SECRET_ACCESS_KEY": "wrong", "AWS_DEFAULT_REGION": "us-east-1",
             "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")},
        check=False)
    assert result.returncode != 0 and "SignatureDoesNotMatch" in result.stderr


@pytest.fixture
def rclone(server):
    env = {
        "RCLONE_CONFIG_SB_TYPE": "s3", "RCLONE_CONFIG_SB_PROVIDER": "Other",
        "RCLONE_CONFIG_SB_ENDPOINT": server.root_url + "/s3", "RCLONE_CONFIG_SB_REGION": "us-east-1",
        "RCLONE_CONFIG_SB_ACCESS_KEY_ID": S3_PROTOCOL_KEY, "RCLONE_CONFIG_SB_SECRET_ACCESS_KEY": S3_PROTOCOL_SECRET,
        "RCLONE_CONFIG_SB_FORCE_PATH_STYLE": "true",
    }

    def call(*arguments, check=True):
        return run(["rclone", "--config", "/dev/null", *arguments], env=env, check=check)

    return call


def test_rclone_copy_check_sync(server, service, bucket, rclone, tmp_path):
    files = make_tree(tmp_path / "up")
    # 5 MiB chunks above a 10 MiB cut-off: the large file goes up in four parts, at once.
    rclone("copy", str(tmp_path / "up"), f"sb:{bucket}/backup", "--s3-upload-cutoff", "10M", "--s3-chunk-size", "5M")
    assert stored(server, bucket, "backup/") == {name: len(data) for name, data in files.items() if name != "empty.bin"} | {"empty.bin": 0}
    assert server.object_row(bucket, "backup/large.bin")[2]["eTag"].endswith('-4"')
    rclone("check", str(tmp_path / "up"), f"sb:{bucket}/backup")
    assert sorted(rclone("lsf", "-R", "--files-only", f"sb:{bucket}/backup").stdout.split("\n")[:-1]) == sorted(files)
    assert service.from_(bucket).download("backup/nested/deeper/b.bin") == files["nested/deeper/b.bin"]

    rclone("sync", f"sb:{bucket}/backup", str(tmp_path / "down"))
    assert read_tree(tmp_path / "down") == files

    # A file removed locally goes from the remote on the next sync.
    (tmp_path / "up" / "a.txt").unlink()
    rclone("sync", str(tmp_path / "up"), f"sb:{bucket}/backup")
    assert "a.txt" not in stored(server, bucket, "backup/")
    rclone("purge", f"sb:{bucket}/backup")
    assert stored(server, bucket, "backup/") == {}
    server.assert_consistent(bucket)


@pytest.fixture
def s3cmd(server, tmp_path):
    config = tmp_path / "s3cfg"
    host = server.root_url.removeprefix("http://")
    config.write_text(
        "[default]\n"
        f"access_key = {S3_PROTOCOL_KEY}\nsecret_key = {S3_PROTOCOL_SECRET}\n"
        f"host_base = {host}/s3\nhost_bucket = {host}/s3\n"
        "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
        "multipart_chunk_size_mb = 5\n")

    def call(*arguments, check=True):
        return run(["s3cmd", "-c", str(config), *arguments], check=check)

    return call


def test_s3cmd_put_get_ls_sync_del(server, service, bucket, s3cmd, tmp_path):
    files = make_tree(tmp_path / "up")
    s3cmd("put", str(tmp_path / "up" / "large.bin"), f"s3://{bucket}/cmd/large.bin")
    assert service.from_(bucket).download("cmd/large.bin") == files["large.bin"]
    assert server.object_row(bucket, "cmd/large.bin")[2]["eTag"].endswith('-4"')
    s3cmd("get", f"s3://{bucket}/cmd/large.bin", str(tmp_path / "large.back"))
    assert hashlib.sha256((tmp_path / "large.back").read_bytes()).digest() == hashlib.sha256(files["large.bin"]).digest()

    s3cmd("sync", str(tmp_path / "up") + "/", f"s3://{bucket}/synced/")
    assert stored(server, bucket, "synced/") == {name: len(data) for name, data in files.items()}
    listing = s3cmd("ls", "--recursive", f"s3://{bucket}/synced/").stdout
    assert sorted(line[line.index("s3://"):] for line in listing.splitlines()) == sorted(f"s3://{bucket}/synced/{n}" for n in files)
    s3cmd("sync", f"s3://{bucket}/synced/", str(tmp_path / "down") + "/")
    assert read_tree(tmp_path / "down") == files
    s3cmd("del", "--recursive", "--force", f"s3://{bucket}/synced/")
    assert stored(server, bucket, "synced/") == {}
    server.assert_consistent(bucket)
