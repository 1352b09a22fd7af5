"""`facepipe models ...`: list, pull, verify, import and locate model files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence

from facepipe.cli._help import HelpFormatter
from facepipe.errors import ModelError
from facepipe.runtime.pull import DEFAULT_TIMEOUT_S, Fetcher, SourceUnavailableError
from facepipe.runtime.store import ModelStore

_PULL_EPILOG = """\
exit status:
  NAME...  0 when every named model is present and verified
           afterwards, else 1.
  --all    0 when every model that can be had without the open
           internet (from the mediapipe wheel on the package index,
           or from a .task bundle that is present) is present and
           nothing downloaded failed its sha256 check; models whose
           only source is an unreachable URL are listed as skipped.
           With --strict any missing model gives 1.
"""


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        _out("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models",
        help="list, pull, verify and import model files",
        description="Manage model files. Search order: FACEPIPE_MODEL_PATH dirs, then the cache\n"
        "(FACEPIPE_CACHE, else $XDG_CACHE_HOME/facepipe/models). Every file is sha256-verified before use.",
        formatter_class=HelpFormatter,
    )
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")
    sub.required = True

    q = sub.add_parser("list", help="every registered model and its status", formatter_class=HelpFormatter)
    q.set_defaults(func=_cmd_list)

    q = sub.add_parser(
        "pull",
        help="fetch models into the cache",
        description="Fetch models from their sources (official URL, the pinned mediapipe wheel via pip,\n"
        "or a .task bundle) into the cache, verifying each sha256.",
        epilog=_PULL_EPILOG,
        formatter_class=HelpFormatter,
    )
    q.add_argument("names", nargs="*", metavar="NAME", help="models to pull")
    q.add_argument("--all", action="store_true", help="pull every registered model")
    q.add_argument("--force", action="store_true", help="fetch again even if present")
    q.add_argument("--strict", action="store_true", help="with --all: fail if any model is missing")
    q.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="network timeout in seconds")
    q.set_defaults(func=_cmd_pull, _parser=q)

    q = sub.add_parser("verify", help="hash every model file present", formatter_class=HelpFormatter)
    q.add_argument("names", nargs="*", metavar="NAME", help="only these models (none: all)")
    q.set_defaults(func=_cmd_verify)

    q = sub.add_parser(
        "import",
        help="copy a model file into the cache",
        description="Copy FILE into the cache if its sha256 matches a registered model; or, with --custom,\n"
        "register it as an unverified user model called NAME (its hash is recorded now and checked\n"
        "on every use, but nobody vouches for where it came from).",
        formatter_class=HelpFormatter,
    )
    q.add_argument("file", metavar="FILE")
    q.add_argument("--name", help="the model FILE must be (registered) or will be called (--custom)")
    q.add_argument("--custom", action="store_true", help="register an unregistered file as a user model")
    q.set_defaults(func=_cmd_import, _parser=q)

    q = sub.add_parser("path", help="print the verified path of a model", formatter_class=HelpFormatter)
    q.add_argument("name", metavar="NAME")
    q.add_argument(
        "--allow-download",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="pull the model if missing (default: FACEPIPE_ALLOW_DOWNLOAD=1, else no)",
    )
    q.set_defaults(func=_cmd_path)


def _cmd_list(args: argparse.Namespace) -> int:
    store = ModelStore()
    rows = [("NAME", "TASK", "LICENCE", "STATUS", "WHERE")]
    counts: dict[str, int] = {}
    for name in store.names():
        st = store.status(name)
        counts[st.state] = counts.get(st.state, 0) + 1
        where = str(st.path) if st.path is not None else "-"
        rows.append((name, st.spec.task, st.spec.licence, st.state, where))
    _table(rows)
    _out()
    _out(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    if counts.get("corrupt"):
        _out("corrupt files are never used; `facepipe models verify` shows why")
    return 0


def _cmd_pull(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args._parser
    if args.all and args.names:
        parser.error("give model names or --all, not both")
    if not args.all and not args.names:
        parser.error("give model names to pull, or --all")
    if args.strict and not args.all:
        parser.error("--strict only applies to --all")
    store = ModelStore()
    names = store.names() if args.all else [store.spec(n).name for n in args.names]  # unknown name: exit 2
    progress = not args.quiet and sys.stderr.isatty()
    present, pulled, skipped, failed = [], [], [], []
    with Fetcher(progress=progress, timeout=args.timeout) as fetcher:
        for name in names:
            try:
                res = store.pull(name, fetcher, force=args.force)
            except SourceUnavailableError as exc:
                if args.all and store.needs_internet(name):
                    skipped.append(name)
                    _out(f"skipped  {name}: {exc}")
                else:
                    failed.append(name)
                    _out(f"FAILED   {name}: {exc}")
                continue
            except ModelError as exc:
                failed.append(name)
                _out(f"FAILED   {name}: {exc}")
                continue
            if res.source == "present":
                present.append(name)
                _out(f"present  {name}  {res.path}")
            else:
                pulled.append(name)
                _out(f"pulled   {name}  {res.path}  (from {res.source})")
    _out()
    _out(
        f"{len(present)} already present, {len(pulled)} pulled, {len(skipped)} skipped, {len(failed)} failed"
    )
    _list_names("skipped (only source is a URL that could not be reached; needs internet)", skipped)
    _list_names("failed", failed)
    if failed or (args.strict and skipped):
        return 1
    return 0


def _list_names(label: str, names: Iterable[str]) -> None:
    names = list(names)
    if names:
        _out(f"{label}: {', '.join(names)}")


def _cmd_verify(args: argparse.Namespace) -> int:
    store = ModelStore()
    names = [store.spec(n).name for n in args.names] if args.names else None
    checks = store.verify(names)
    for c in checks:
        _out(f"ok       {c.name}  {c.path}" if c.ok else f"CORRUPT  {c.name}  {c.path}: {c.detail}")
    bad = sum(not c.ok for c in checks)
    if not checks:
        _out(f"no model files found in {', '.join(map(str, store.search_dirs()))}")
    else:
        _out()
        _out(f"{len(checks)} files checked: {len(checks) - bad} ok, {bad} corrupt")
    if bad:
        _out("corrupt files are refused when used: delete them, then `facepipe models pull NAME`")
    return 1 if bad else 0


def _cmd_import(args: argparse.Namespace) -> int:
    if args.custom and not args.name:
        args._parser.error("--custom needs --name NAME")
    store = ModelStore()
    for spec, dest in store.import_file(args.file, name=args.name, custom=args.custom):
        kind = "custom model (unverified provenance)" if spec.custom else "verified"
        _out(f"imported {spec.name}  {dest}  [{kind}]")
    return 0


def _cmd_path(args: argparse.Namespace) -> int:
    _out(str(ModelStore().resolve(args.name, allow_download=args.allow_download)))
    return 0
