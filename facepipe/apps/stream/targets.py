"""Where packets go: "HOST:PORT" targets, each a UDP socket with its protocol's encoder.

A UDP sender cannot know whether anyone listens. The socket is connected, so
when the target machine answers "port unreachable" (nothing listening yet)
the next send fails with "connection refused": that is logged once per target
and sending goes on (the receiving app may be started later).
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass

from facepipe.apps.stream.frame import FaceFrame
from facepipe.apps.stream.protocols import Encoder
from facepipe.errors import FacepipeError, InputError

log = logging.getLogger(__name__)

__all__ = ["Address", "UdpTarget", "UsageError", "parse_address"]


class UsageError(InputError):
    """A malformed command-line value (exit code 2, like argparse's own errors)."""

    exit_code = 2


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(text: str, option: str = "address") -> Address:
    """HOST:PORT, [IPv6]:PORT or :PORT (localhost). UsageError naming the option when malformed."""
    s = text.strip()
    if s.startswith("["):
        host, sep, port = s[1:].partition("]:")
    else:
        host, sep, port = s.rpartition(":")
        if ":" in host:
            raise UsageError(f"{option} {text!r}: write an IPv6 address in brackets, e.g. [::1]:39539")
    if not sep:
        raise UsageError(f"{option} {text!r}: expected HOST:PORT, e.g. 127.0.0.1:39539")
    if not port.isdigit():
        raise UsageError(f"{option} {text!r}: port {port!r} is not a number")
    p = int(port)
    if not 1 <= p <= 65535:
        raise UsageError(f"{option} {text!r}: port must be in 1..65535, got {p}")
    if any(c.isspace() for c in host):
        raise UsageError(f"{option} {text!r}: the host contains spaces")
    return Address(host or "127.0.0.1", p)


class UdpTarget:
    """One destination: resolves the host at once (FacepipeError if it does not resolve), then sends each
    frame as one datagram. Use as a context manager or call close()."""

    def __init__(self, address: Address, encoder: Encoder, option: str = "") -> None:
        self.address, self.encoder = address, encoder
        self.label = f"{option or encoder.name} {address}"
        try:
            infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FacepipeError(f"{self.label}: host {address.host!r} does not resolve ({exc})") from exc
        family, kind, proto, _, sockaddr = infos[0]
        self.sockaddr = sockaddr
        self._sock = socket.socket(family, kind, proto)
        try:
            self._sock.connect(sockaddr)
        except OSError as exc:
            self._sock.close()
            raise FacepipeError(f"{self.label}: cannot send there ({exc.strerror or exc})") from exc
        self.sent = 0
        self.failed = 0
        self.bytes = 0
        self._warned: set[int] = set()

    def send(self, frame: FaceFrame) -> bool:
        """Encode and send; False (and one warning per kind of error) if the network refused it."""
        data = self.encoder.encode(frame)
        try:
            self._sock.send(data)
        except OSError as exc:
            self.failed += 1
            code = exc.errno or 0
            if code not in self._warned:
                self._warned.add(code)
                why = ("nothing is listening there yet (connection refused); still sending"
                       if code == errno.ECONNREFUSED else f"{exc.strerror or exc}")
                log.warning("%s: %s", self.label, why)
            return False
        self.sent += 1
        self.bytes += len(data)
        return True

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> UdpTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
