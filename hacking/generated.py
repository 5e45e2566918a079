"""What the generators under hacking/ share: replace the block between two markers of a file, or say it is stale.

    main(argv, TARGET, BEGIN, END, make_block)   # write; with --check, exit 1 when the file is not up to date
"""
from __future__ import annotations

import pathlib
import sys


def replace_block(source: str, begin: str, end: str, block: str) -> str:
    """`source` with the text from `begin` to `end` (both kept) replaced by `block`."""
    start, stop = source.index(begin), source.index(end) + len(end)
    return source[:start] + begin + block + end + source[stop:]


def main(argv, target: pathlib.Path, render, script: str) -> int:
    """Write `render(source)` into `target`; with --check, only say (exit 1) when that would change it."""
    source = target.read_text()
    wanted = render(source)
    if "--check" in argv:
        if wanted != source:
            print(f"{target} is not up to date: run python3 {script}", file=sys.stderr)
            return 1
        return 0
    target.write_text(wanted)
    return 0
