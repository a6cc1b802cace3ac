"""A small TCP proxy that misbehaves on purpose, as Toxiproxy does in tusd's end-to-end suite
(Toxiproxy itself is not installable here).

Each connection is forwarded to the upstream server; the proxy can
- reset the connection (RST, not FIN) after the client has sent `reset_after` bytes upstream,
- throttle what the client sends to `throttle` bytes per second.
"""

import socket
import struct
import threading
import time


class FaultProxy:
    def __init__(self, upstream_port: int, reset_after: int | None = None, throttle: int | None = None):
        self.upstream_port = upstream_port
        self.reset_after = reset_after
        self.throttle = throttle
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/storage/v1"
        self.forwarded = 0
        self.resetting = False
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed.set()
        self.listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def _accept(self):
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._upward, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._downward, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _reset(*sockets):
        for sock in sockets:
            try:
                # Linger 0: the last close sends RST, as a dropped network or a killed client
                # would. SHUT_RD first wakes the other thread's recv, which otherwise keeps the
                # socket open (and silent) however long it waits.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        time.sleep(0.05)
        for sock in sockets:
            try:
                sock.close()
            except OSError:
                pass

    def _upward(self, client, upstream):
        try:
            while True:
                size = 1024 if self.throttle else 65536
                data = client.recv(size)
                if not data:
                    upstream.shutdown(socket.SHUT_WR)
                    return
                if self.reset_after is not None and self.forwarded + len(data) >= self.reset_after:
                    keep = self.reset_after - self.forwarded
                    upstream.sendall(data[:keep])
                    self.forwarded += keep
                    time.sleep(0.2)  # let the server read what arrived before the reset
                    self.resetting = True
                    self._reset(client, upstream)
                    return
                upstream.sendall(data)
                self.forwarded += len(data)
                if self.throttle:
                    time.sleep(len(data) / self.throttle)
        except OSError:
            self._reset(client, upstream)

    def _downward(self, upstream, client):
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    if not self.resetting:
                        client.shutdown(socket.SHUT_WR)
                    return
                client.sendall(data)
        except OSError:
            self._reset(client, upstream)
