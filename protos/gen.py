"""Generate the Python modules for protos/ into vcc/proto/ (one script, one package: the generated
code is committed, excluded from lint, and checked to be current by tests/unit/test_protos.py).

    .venv/bin/python protos/gen.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"


def generate(out: Path) -> list[Path]:
    files = sorted(PROTOS.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = ["protoc", f"-I{PROTOS}", f"-I{include}", f"--python_out={out}", f"--pyi_out={out}",
            f"--grpc_python_out={out}", *[str(f) for f in files]]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated: list[Path] = []
    for package in sorted({f.parent.relative_to(PROTOS) for f in files}):
        for depth in range(1, len(package.parts) + 1):
            (out / Path(*package.parts[:depth]) / "__init__.py").touch()
        generated += sorted((out / package).glob("*_pb2*.py*"))
    return generated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT)
    args = parser.parse_args()
    for path in generate(args.out):
        print(path.relative_to(args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
