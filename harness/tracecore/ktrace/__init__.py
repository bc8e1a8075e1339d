"""ktrace(2): record layouts, trace-file parser, kdump-like formatter, binding.

``parse``/``parse_file`` read any NetBSD or OpenBSD trace file in either byte
order; ``run_traced`` ktraces a child on a BSD target.  Stdlib only.
"""

from __future__ import annotations

from .binding import Ktrace, KtraceUnsupported, facility_mask
from .format import record_text, record_to_dict, trace_text, trace_to_dict
from .parser import Record, Stop, Trace, TraceFormatError, detect, parse, parse_file
from .runner import rpc_ktrace_run, run_traced

__all__ = [
    "Ktrace", "KtraceUnsupported", "Record", "Stop", "Trace", "TraceFormatError",
    "detect", "facility_mask", "parse", "parse_file", "record_text", "record_to_dict",
    "rpc_ktrace_run", "run_traced", "trace_text", "trace_to_dict",
]
