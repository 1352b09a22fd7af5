"""Wire formats: each encoder turns a FaceFrame into one UDP datagram.

- vmc: the VMC protocol (OSC bundle), for VSeeFace, VNyan, Warudo, VMC4UE/Unity receivers;
- livelink: Live Link Face's binary UDP packet, for Unreal Engine's Live Link;
- osc: facepipe's own plain OSC layout (docs/streaming.md).
"""

from __future__ import annotations

from typing import Protocol

from facepipe.apps.stream.frame import FaceFrame

__all__ = ["Encoder", "PROTOCOLS", "make_encoder"]

PROTOCOLS = ("vmc", "livelink", "osc")


class Encoder(Protocol):
    name: str

    def encode(self, frame: FaceFrame) -> bytes: ...


def make_encoder(protocol: str, **options: object) -> Encoder:
    """An encoder for "vmc", "livelink" or "osc" (options: capitalize_names for vmc, subject for livelink)."""
    if protocol == "vmc":
        from facepipe.apps.stream.protocols.vmc import VmcEncoder

        return VmcEncoder(capitalize_names=bool(options.get("capitalize_names", False)))
    if protocol == "livelink":
        from facepipe.apps.stream.protocols.livelink import LiveLinkEncoder

        return LiveLinkEncoder(subject=str(options.get("subject", "facepipe")))
    if protocol == "osc":
        from facepipe.apps.stream.protocols.osc import PlainOscEncoder

        return PlainOscEncoder()
    raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
