"""The tracing core: runs inside each guest (or on this machine for ``local``).

Stdlib only, Python >= 3.9, relative imports only: this package is zipped and
pushed to guests as ``tracecore.zip`` and run as ``python3 tracecore.zip serve``.
"""

PROTOCOL_VERSION = 1
