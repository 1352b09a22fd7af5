"""The top-level names resolve to the real classes, and importing facepipe stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import facepipe


@pytest.mark.parametrize("name", [n for n in facepipe.__all__ if n != "__version__"])
def test_every_exported_name_resolves(name):
    obj = getattr(facepipe, name)
    assert obj.__name__ == name


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        facepipe.no_such_thing  # noqa: B018


def test_import_does_not_load_opencv_or_litert():
    code = "import sys, facepipe; print('cv2' in sys.modules, 'ai_edge_litert' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
