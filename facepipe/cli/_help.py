"""The help formatter every `facepipe` command uses."""

from __future__ import annotations

import argparse
import textwrap


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown in --help where they say something; descriptions and epilogs keep their
    line breaks (tables, paragraphs) while long lines still wrap to the terminal.

    No "(default: ...)" on on/off flags ("--no-charts (default: True)" misleads) or where
    the default is None (nothing to show).
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 or action.default is None:
            return action.help
        return super()._get_help_string(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(
            # Hand-formatted lines that fit stay as written; only over-long ones are wrapped.
            indent + line if len(indent + line) <= width
            else textwrap.fill(line.lstrip(), width, initial_indent=indent + line[: len(line) - len(line.lstrip())],
                               subsequent_indent=indent + " " * (len(line) - len(line.lstrip())))
            for line in text.splitlines()
        )
