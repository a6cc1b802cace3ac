"""A multipart upload whose first part's header line never ends (issue 11, item 1): sends filler
for up to `seconds` or until the server answers; prints the bytes the server took before
answering (or all sent, if it never did), the seconds, and the answer's status line."""
import socket
import sys
import threading
import time


def main(port, token, seconds):
    seconds = float(seconds)
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=seconds + 5)
    sock.sendall((f"POST /storage/v1/object/any-bucket/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                  f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {1 << 30}\r\n\r\n"
                  '--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\nX-Long: ').encode())
    sent, stop = [0], threading.Event()

    def pump():
        filler = b"a" * 65536
        deadline = time.monotonic() + seconds
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                sock.sendall(filler)
                sent[0] += len(filler)
        except OSError:
            pass

    started = time.monotonic()
    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    sock.settimeout(seconds + 2)
    try:
        answer = sock.recv(200).split(b"\r\n", 1)[0].decode() or "connection closed"
    except (socket.timeout, OSError):
        answer = "no answer"
    elapsed = time.monotonic() - started
    stop.set()
    thread.join(5)
    sock.close()
    print(f"{sent[0] / 1048576:.1f} {elapsed:.1f} {answer.replace(' ', '_')}")


if __name__ == "__main__":
    main(*sys.argv[1:])
