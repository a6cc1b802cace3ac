"""PgBouncer in transaction-pooling mode between replicas and Postgres (DATABASE_POOL_URL).

Runs in the suite's PgBouncer pass (COMPAT_DATABASE_POOLER=pgbouncer), where every server the
suite starts sends its queries through the harness's PgBouncer; the load, TUS, events and RLS
tests run in that pass too. These tests check that the traffic really goes through it, that
connections are shared between callers without one caller's role or claims reaching another's
transaction, and that what needs a session (LISTEN, the migration lock) keeps a direct connection.
"""

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from conftest import ANON_KEY, POOLER, Server, bearer, scratch_database, through_pgbouncer, user_token

pytestmark = pytest.mark.skipif(POOLER != "pgbouncer", reason="runs in the PgBouncer pass (COMPAT_DATABASE_POOLER=pgbouncer)")

# PgBouncer's default_pool_size in the harness: server connections per database.
POOL_SIZE = int(os.environ.get("TEST_PGBOUNCER_POOL_SIZE", "20"))


def admin(command: str) -> list[dict]:
    """One command on PgBouncer's admin console (simple query protocol only), as dicts."""
    console = through_pgbouncer(os.environ["TEST_DATABASE_URL"]).rsplit("/", 1)[0] + "/pgbouncer"
    with psycopg.connect(console,
                         autocommit=True, cursor_factory=psycopg.ClientCursor) as connection:
        with connection.cursor() as cursor:
            cursor.execute(command)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]


def database_of(server: Server) -> str:
    return server.database_url.rsplit("/", 1)[1]


class PoolSampler(threading.Thread):
    """Peaks of client and server connections PgBouncer holds for one database."""

    def __init__(self, database: str):
        super().__init__(daemon=True)
        self.database = database
        self.peak_clients = self.peak_servers = 0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.wait(0.05):
            for pool in admin("SHOW POOLS"):
                if pool["database"] == self.database:
                    clients = pool["cl_active"] + pool["cl_waiting"]
                    servers = pool["sv_active"] + pool["sv_idle"] + pool["sv_used"] + pool["sv_tested"] + pool["sv_login"]
                    self.peak_clients = max(self.peak_clients, clients)
                    self.peak_servers = max(self.peak_servers, servers)


def transactions(database: str) -> int:
    return next((row["total_xact_count"] for row in admin("SHOW STATS") if row["database"] == database), 0)


def test_callers_share_pooled_connections_without_sharing_identity(tmp_path):
    """60 callers at once over one replica holding up to 60 connections to PgBouncer, which has
    at most POOL_SIZE to Postgres: every transaction is PgBouncer's, connections are shared, and
    each answer is the one its caller's role and claims give (a role or claim left on a shared
    connection would let anon read, or hide one user's objects from another)."""
    with scratch_database("compat_pooler") as database_url:
        server = Server(os.environ["STORAGE_API_BINARY"], database_url, tmp_path / "storage", tmp_path / "server.log",
                        extra_env={"DATABASE_MAX_CONNECTIONS": "60", "DATABASE_CONNECTION_TIMEOUT": "10000"})
        server.start()
        try:
            name = database_of(server)
            bucket = f"pool-{uuid.uuid4().hex[:8]}"
            server.client().create_bucket(bucket)
            # Authenticated users may read and write only their own folder.
            server.sql(f"""create policy "own folder" on storage.objects for all to authenticated
                           using (bucket_id = '{bucket}' and (storage.foldername(name))[1] = auth.uid()::text)
                           with check (bucket_id = '{bucket}' and (storage.foldername(name))[1] = auth.uid()::text)""")
            users = [str(uuid.uuid4()) for _ in range(6)]
            before = transactions(name)
            sampler = PoolSampler(name)
            sampler.start()

            def caller(index: int) -> list[str]:
                user = users[index % len(users)]
                token = user_token(user)
                wrong = []
                with httpx.Client(base_url=server.url, timeout=60) as http:
                    for n in range(8):
                        key = f"{user}/{index}-{n}.txt"
                        data = f"{index}:{n}".encode()
                        answer = http.post(f"/object/{bucket}/{key}", content=data, headers=bearer(token, **{"content-type": "text/plain"}))
                        if answer.status_code != 200:
                            wrong.append(f"upload as {user}: {answer.status_code} {answer.text[:200]}")
                        denied = http.get(f"/object/{bucket}/{key}", headers=bearer(ANON_KEY))
                        if denied.status_code != 400:
                            wrong.append(f"anon read {key}: {denied.status_code}")
                        other = users[(index + 1) % len(users)]
                        foreign = http.post(f"/object/{bucket}/{other}/{index}-{n}.txt", content=b"x",
                                            headers=bearer(token, **{"content-type": "text/plain"}))
                        if foreign.status_code != 400 or foreign.json().get("statusCode") != "403":
                            wrong.append(f"upload into {other}'s folder as {user}: {foreign.status_code} {foreign.text[:200]}")
                        own = http.get(f"/object/{bucket}/{key}", headers=bearer(token))
                        if own.status_code != 200 or own.content != data:
                            wrong.append(f"own read {key}: {own.status_code}")
                        listed = http.post(f"/object/list/{bucket}", json={"prefix": f"{user}/", "limit": 1000},
                                           headers=bearer(token))
                        names = {item["name"] for item in listed.json()} if listed.status_code == 200 else set()
                        if f"{index}-{n}.txt" not in names:
                            wrong.append(f"own listing of {user}/ lacks {index}-{n}.txt: {listed.status_code}")
                return wrong

            with ThreadPoolExecutor(60) as pool:
                wrong = [problem for problems in pool.map(caller, range(60)) for problem in problems]
            sampler.stopping.set()
            sampler.join()
            assert wrong == [], f"{len(wrong)} wrong answers; first: {wrong[:5]}"

            requests = 60 * 8 * 5
            through = transactions(name) - before
            assert through >= requests, f"only {through} transactions went through PgBouncer for {requests} requests"
            assert sampler.peak_servers <= POOL_SIZE, f"{sampler.peak_servers} server connections"
            assert sampler.peak_clients > POOL_SIZE, (
                f"the replica never held more connections ({sampler.peak_clients}) than PgBouncer's pool ({POOL_SIZE})")
            # Every object row is the one its owner wrote, under its own folder.
            rows = server.sql("select name, owner_id from storage.objects where bucket_id = %s", bucket)
            assert len(rows) == 60 * 8 and all(name.split("/", 1)[0] == owner for name, owner in rows)
            print(f"\npooler: {through} transactions for {requests} requests; peak {sampler.peak_clients} client "
                  f"connections over {sampler.peak_servers} server connections")
        finally:
            code = server.stop()
        assert code == 0, server.log_tail()


def test_listen_and_migrations_connect_directly(tmp_path):
    """The webhook deliverer's LISTEN is on a connection of its own to Postgres, not on one of
    PgBouncer's (which would hand it to other transactions), and a second replica starting on
    the migrated database takes and releases the migration lock on a direct connection too."""
    with scratch_database("compat_pooler") as database_url:
        env = {"WEBHOOK_URL": "http://127.0.0.1:9/unreachable", "WEBHOOK_MAX_ATTEMPTS": "1"}
        servers = [Server(os.environ["STORAGE_API_BINARY"], database_url, tmp_path / "storage", tmp_path / f"server{n}.log",
                          extra_env=env) for n in range(2)]
        try:
            for server in servers:
                server.start()
            name = database_of(servers[0])
            via_pgbouncer = {row["local_port"] for row in admin("SHOW SERVERS") if row["database"] == name}
            listeners = servers[0].sql(
                "select client_port from pg_stat_activity where datname = %s and query ilike 'listen%%'", name)
            assert len(listeners) == 2, f"expected one LISTEN per replica, found {listeners}"
            assert not {port for (port,) in listeners} & via_pgbouncer, "a LISTEN went through PgBouncer"
            # The migration lock was released (a session lock left behind would block the next start-up).
            held = servers[0].sql("select count(*) from pg_locks where locktype = 'advisory' and granted")
            assert held == [(0,)]
        finally:
            codes = [server.stop() for server in servers]
        assert codes == [0, 0], "\n".join(server.log_tail() for server in servers)
