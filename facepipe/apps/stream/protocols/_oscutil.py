"""python-osc, imported on first use (the `stream` extra), and a bundle builder shortcut."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from facepipe.errors import InputError

__all__ = ["osc_bundle"]


def _builders() -> tuple[Any, Any, Any]:
    try:
        from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
        from pythonosc.osc_message_builder import OscMessageBuilder
    except ModuleNotFoundError as exc:
        raise InputError("OSC targets (--vmc, --osc) need python-osc: pip install 'facepipe[stream]'") from exc
    return OscBundleBuilder, OscMessageBuilder, IMMEDIATELY


def check_python_osc() -> None:
    """InputError now (not mid-stream) if python-osc is missing."""
    _builders()


def osc_bundle(messages: Sequence[tuple[str, Sequence[Any]]]) -> bytes:
    """One OSC bundle (time tag "immediately") of (address, args) messages. Python floats are sent as
    32-bit floats ('f'), ints as 'i', str as 's'."""
    bundle_cls, message_cls, immediately = _builders()
    bundle = bundle_cls(immediately)
    for address, args in messages:
        msg = message_cls(address=address)
        for a in args:
            msg.add_arg(a, "s" if isinstance(a, str) else ("i" if isinstance(a, int) else "f"))
        bundle.add_content(msg.build())
    return bundle.build().dgram
