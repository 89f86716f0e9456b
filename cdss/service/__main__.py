"""``python -m cdss.service [--host H] [--port P] [--db URL]`` (the same as ``cdss serve``)."""

from __future__ import annotations

import argparse

from cdss.service.app import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cdss.service",
                                     description="Run the cdss CDS Hooks service.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--db", default=None, help="feedback database URL (default: SQLite)")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.db)


if __name__ == "__main__":
    main()
