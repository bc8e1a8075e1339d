"""Entry point: ``python3 -m tracecore COMMAND`` or ``python3 tracecore.zip COMMAND``.

  serve             the JSON-lines RPC server on stdin/stdout
  tracee NAME ...   run one of the tracee programs (the tracer starts these)
  hello             print the platform facts the server's hello carries
"""

from __future__ import annotations

import json
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(__doc__ or "")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "serve":
        from .server import serve
        return serve()
    if command == "tracee":
        from .tracees import main as tracee_main
        return tracee_main(rest)
    if command == "hello":
        from .server import platform_facts
        print(json.dumps(platform_facts(), indent=2, sort_keys=True))
        return 0
    sys.stderr.write("tracecore: unknown command %r (serve, tracee, hello)\n" % command)
    return 2


if __name__ == "__main__":
    sys.exit(main())
