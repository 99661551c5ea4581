"""A minimal JSON client on http.client: one kept-alive connection, timed requests."""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass


@dataclass
class Reply:
    status: int
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)


class _Connection(http.client.HTTPConnection):
    """HTTPConnection with TCP_NODELAY, as browsers and urllib3 set it. http.client sends the
    headers and the body of a POST in two writes; without it, Nagle's algorithm holds the body
    back until the server's delayed ACK (about 40 ms on Linux loopback)."""

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Client:
    def __init__(self, port: int, token: str | None = None, timeout: float = 120):
        self.port = port
        self.token = token
        self.timeout = timeout
        self.reconnects = 0
        self.conn = _Connection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, payload=None) -> Reply:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                start = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - start
                if response.will_close:
                    self._reconnect()
                return Reply(response.status, data, elapsed)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server closed. Retry a GET once; never repeat a
                # POST, whose first attempt may have reached the server.
                self._reconnect()
                if attempt or method != "GET":
                    raise
        raise AssertionError("unreachable")

    def _reconnect(self) -> None:
        self.reconnects += 1
        self.conn.close()
        self.conn = _Connection("127.0.0.1", self.port, timeout=self.timeout)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, payload=None) -> Reply:
        return self.request("POST", path, payload)

    def close(self) -> None:
        self.conn.close()


def login(port: int, username: str, password: str) -> Client:
    client = Client(port)
    reply = client.post("/api/v1/auth/token", {"username": username, "password": password})
    if reply.status != 200:
        raise RuntimeError(f"login as {username} failed: {reply.status} {reply.body[:300]!r}")
    client.token = reply.json()["token"]
    return client
