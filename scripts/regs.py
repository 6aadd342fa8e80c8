"""Writers of the register map (``hdl.ctrl.regs``): the C header and the Markdown table.

::

    python -m scripts.regs header build/include/systolix_regs.h
    python -m scripts.regs markdown docs/registers.md
    python -m scripts.regs markdown docs/registers.md --check   # exit 1 if it is stale
"""

import argparse
import sys
from pathlib import Path

from hdl.ctrl.regs_text import PREFIX, c_header, markdown

__all__ = ["DOC_PATH", "PREFIX", "WRITERS", "c_header", "main", "markdown"]

#: Where the Markdown table lives in the repository.
DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "registers.md"


WRITERS = {"header": c_header, "markdown": markdown}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m scripts.regs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("kind", choices=sorted(WRITERS), help="what to write")
    parser.add_argument("out", type=Path, help="output file")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the file differs from the table",
    )
    args = parser.parse_args(argv)
    text = WRITERS[args.kind]()
    if args.check:
        current = args.out.read_text() if args.out.exists() else None
        if current != text:
            print(
                f"{args.out} is not up to date: run python -m scripts.regs {args.kind} {args.out}",
                file=sys.stderr,
            )
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
