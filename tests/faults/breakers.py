"""Ways for a server to misbehave below HTTP's level, for the fault suite: answers that
reset, trickle, never come or never end, and mail servers that will not talk."""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Any

TRICKLE_SECONDS = 1.0


def reset_mid_body(handler: Any) -> None:
    """Promise a body, send half of it, then reset the connection."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "4000")
    handler.end_headers()
    handler.wfile.write(b'{"studies": [{"protocolSection": {"identificationModule": ')
    handler.wfile.flush()
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True


def trickle(handler: Any) -> None:
    """A valid-looking answer sent one byte a second, until the client goes away."""
    body = b'{"apiVersion": "2.0.5", "dataTimestamp": "2026-03-20T09:00:05"}' * 50
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    for byte in body:
        try:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(TRICKLE_SECONDS)


def silence(handler: Any) -> None:
    """Accept the request and never answer (until the client gives up)."""
    handler.connection.settimeout(60)
    try:
        while handler.connection.recv(1024):
            pass
    except OSError:
        pass
    handler.close_connection = True


def page_loop(token: str) -> Any:
    """A page with no studies whose nextPageToken is always the same."""
    def answer(handler: Any) -> None:
        handler.answer(200, {"studies": [], "nextPageToken": token})
    return answer


class TcpStub:
    """A TCP server on loopback that greets (or not) and then drops or holds each client:
    an SMTP server that never says hello, or one that hangs up."""

    def __init__(self, greeting: bytes | None, hold: bool, port: int = 0) -> None:
        self.greeting = greeting
        self.hold = hold
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.clients: list[socket.socket] = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(client)
            if self.greeting:
                client.sendall(self.greeting)
            if not self.hold:
                try:
                    client.recv(1024)
                finally:
                    client.close()

    def stop(self) -> None:
        for each in (self.sock, *self.clients):
            try:
                each.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
            except OSError:
                pass
            each.close()
