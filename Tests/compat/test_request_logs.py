"""One grep of a request id shows the request's whole path: the access line, each database
transaction it ran and (S3 modes) each backend call, all on the request's logger. Background
passes log under their own job ids (docs/architecture.md, "Logs")."""
import json
import os
import time
import uuid

import pytest

from conftest import MODE, SERVICE_KEY, Server, scratch_database


def log_lines(server):
    lines = []
    for text in server.log_path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            pass
    return lines


@pytest.fixture(scope="module")
def debug_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("logs")
    with scratch_database("compat_logs") as database_url:
        server = Server(os.environ["STORAGE_API_BINARY"], database_url, base / "storage", base / "server.log",
                        extra_env={"LOG_LEVEL": "debug", "BACKEND_CLEANUP_INTERVAL_MS": "200"})
        server.start()
        yield server
        assert server.stop() == 0, server.log_tail()


def test_a_request_id_finds_every_step_of_the_request(debug_server):
    headers = {"Authorization": f"Bearer {SERVICE_KEY}"}
    with debug_server.http() as http:
        assert http.post("/bucket", json={"name": "logs"}, headers=headers).status_code == 200
        request_id = f"trace-{uuid.uuid4().hex}"
        answer = http.post("/object/logs/a.txt", content=b"hello", headers={**headers, "X-Request-Id": request_id})
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-request-id"] == request_id
        # A second request must not show up under the first one's id.
        assert http.get("/object/logs/a.txt", headers=headers).content == b"hello"
    time.sleep(0.3)
    mine = [line for line in log_lines(debug_server) if line.get("request_id") == request_id]
    messages = [line["msg"] for line in mine]
    assert messages.count("request") == 1, messages
    transactions = [line for line in mine if line["msg"] == "database transaction"]
    # The bucket lookup and RLS probe (rolled back), then the row's commit.
    assert [t["outcome"] for t in transactions].count("commit") >= 1, transactions
    assert [t["outcome"] for t in transactions].count("rollback") >= 1, transactions
    assert {t["operation"] for t in transactions} == {"storage.object.upload"}, transactions
    if MODE != "file":
        calls = [line for line in mine if line["msg"] == "s3 request"]
        assert any(c["method"] == "PUT" and c["key"].endswith("/logs/a.txt/" + c["key"].rsplit("/", 1)[-1])
                   and c["status"] == "200" for c in calls), calls
    # The access line of the request comes last: everything it did is logged before it.
    assert messages[-1] == "request", messages


def test_background_passes_log_under_their_own_ids(debug_server):
    deadline = time.time() + 10
    passes = set()
    while time.time() < deadline and len(passes) < 2:
        passes = {line["job_id"] for line in log_lines(debug_server)
                  if line.get("job") == "cleanup-drainer" and line.get("msg") == "database statement"}
        time.sleep(0.2)
    assert len(passes) >= 2, "the drainer's passes did not log under distinct job ids"
    # A pass's lines never carry a request id.
    assert not any("request_id" in line for line in log_lines(debug_server) if line.get("job"))
