"""Load: three storage-api processes over one database and one backend, 200 concurrent clients.

Replicas are the deployment the README promises ("no sticky sessions are needed"), so this test
drives three of them at once with a mixed workload routed as a least-connections load balancer
would: uploads (raw and multipart, new keys and upserts), downloads, list v1 and v2, copies, moves,
single and bulk deletes, and resumable (TUS) uploads whose chunks go to each server in turn.

Every client owns its own key space (`wNNN/...`) and a model of it (key -> sha256 and size, or
gone), so each answer can be checked exactly; cross-client traffic goes through a set of stable
objects every client reads and copies from. Nothing is allowed to fail: any non-2xx answer or
transport error is recorded and the test fails listing them. At the end every object of the model
is downloaded through a random server, every removed key must be missing, the database rows must
equal the model (no extra, no missing) and the backend must hold exactly the rows' bytes with no
multipart upload or resumable piece left.

Servers run with their defaults except the database pool, sized for the load (see SERVER_ENV).
Both storage modes run: in file mode the three processes share one storage folder, which the
README supports ("several replicas may share the folder").

Throughput and per-operation latency are printed at the end (`-s` is not needed).
"""

import pytest

from helpers_load import replica_cluster, run_load


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with replica_cluster(tmp_path_factory.mktemp("load"), "load") as cluster:
        yield cluster


def test_three_servers_under_mixed_load(cluster, capsys):
    run_load(cluster, capsys)
