"""trapline: a QEMU-based conformance harness for the BSD tracing facilities.

Host side.  The guest-side tracing core lives in :mod:`harness.tracecore` and
imports nothing from here, so it can be zipped and pushed to any python3.
"""

__version__ = "0.1.0"
