"""Port leases: no two VMs get the same port, in one process or across processes."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from harness.errors import HostError
from harness.vm.ports import lease_port


def test_two_leases_never_share_a_port_even_when_offered_the_same_one() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first = lease_port([port])
    try:
        second = lease_port([port, port, port + 1])
        try:
            assert (first.port, second.port) == (port, port + 1)
        finally:
            second.release()
    finally:
        first.release()


def test_a_port_in_use_is_skipped() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        with lease_port([taken, free]) as lease:
            assert lease.port == free


def test_a_released_port_can_be_leased_again() -> None:
    with lease_port() as lease:
        port = lease.port
    with lease_port([port]) as again:
        assert again.port == port


def test_a_port_leased_by_another_process_is_skipped() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from harness.vm.ports import lease_port; "
         "l = lease_port([%d]); print(l.port, flush=True); sys.stdin.read()" % port],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == str(port)
        with pytest.raises(HostError, match="no free TCP port on 127.0.0.1 after trying 1: %d" % port):
            lease_port([port])
    finally:
        holder.communicate("")


def test_running_out_of_candidates_is_a_host_error_listing_them() -> None:
    with pytest.raises(HostError, match="after trying 2: 1, 2"):
        lease_port([1, 2], bindable=lambda port: False)
