"""The process itself: start-up errors are one clear line, --help documents the settings."""

import os
import subprocess

import pytest


def run(*args, env=None, timeout=30):
    binary = os.environ["STORAGE_API_BINARY"]
    return subprocess.run([binary, *args], env={"PATH": os.environ.get("PATH", ""), **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("env, line", [
    ({}, "configuration error: DATABASE_URL is required"),
    ({"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db"}, "configuration error: AUTH_JWT_SECRET is required"),
    ({"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db", "AUTH_JWT_SECRET": "s", "PORT": "http"},
     "configuration error: PORT must be a whole number in 0...65535, not http"),
    ({"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db", "AUTH_JWT_SECRET": "s", "STORAGE_MODE": "ftp"},
     "configuration error: STORAGE_MODE must be file, self-hosted or cloud, not ftp"),
])
def test_bad_settings_stop_startup_with_one_line(env, line):
    result = run("serve", env=env)
    assert result.returncode == 78
    assert result.stderr.strip() == line
    assert result.stdout == ""


def test_unreachable_database_stops_startup_cleanly():
    result = run("migrate", env={"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db"}, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("migration failed:")


def test_help_documents_every_setting():
    result = run("--help")
    assert result.returncode == 0
    for variable in ["PORT", "HOST", "DATABASE_URL", "AUTH_JWT_SECRET", "JWT_JWKS", "STORAGE_MODE",
                     "FILE_STORAGE_BACKEND_PATH", "S3_BUCKET", "TENANT_ID", "UPLOAD_FILE_SIZE_LIMIT",
                     "IMAGE_TRANSFORMATION_ENABLED", "CORS_ALLOWED_ORIGINS", "UPLOAD_SIGNED_URL_EXPIRATION_TIME",
                     "TUS_URL_EXPIRY_MS", "LOG_LEVEL"]:
        assert variable in result.stdout, variable


def test_keys_prints_role_keys():
    result = run("keys", env={"AUTH_JWT_SECRET": "a-secret"})
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["ANON_KEY", "SERVICE_KEY"]


def test_unusable_s3_bucket_stops_startup_with_one_line():
    """A wrong S3 secret is refused by the backend, and start-up says so in one line."""
    if not os.environ.get("TEST_S3_ENDPOINT"):
        pytest.skip("needs the test SeaweedFS")
    env = {"DATABASE_URL": os.environ["TEST_DATABASE_URL"], "AUTH_JWT_SECRET": "s", "PORT": "0",
           "STORAGE_MODE": "self-hosted", "S3_ENDPOINT": os.environ["TEST_S3_ENDPOINT"], "S3_BUCKET": "never-used",
           "S3_ACCESS_KEY": os.environ["TEST_S3_ACCESS_KEY"], "S3_SECRET_KEY": "wrong-secret", "LOG_LEVEL": "error"}
    result = run("serve", env=env, timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("storage-api stopped: S3 bucket never-used at ") and "(403)" in last, last
    assert last.endswith("check S3_ACCESS_KEY and S3_SECRET_KEY"), last
