"""``harness ssh TARGET [-- command...]``: a shell (or one command) on a guest.

The guest is started as the suites start it (restored from its ready state
when there is one) and shut down when the shell or command ends.  The
interactive shell is OpenSSH's ``ssh`` with the image's pinned host key in a
private known_hosts file; a command runs through the harness's own SSH
session and exits with the command's status.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import ConfigError, HostError
from ..remote.guest_target import GuestTarget
from ..remote.ssh import shell_quote
from ..targets import parse_target


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ssh", help="a shell, or one command after --, on a guest target",
                       description="Boot TARGET (or restore its ready state), then open a shell on it; "
                       "with '-- command...' run that command instead. The VM stops afterwards.")
    p.add_argument("target", metavar="TARGET", help="<os>-<release>-<arch>, e.g. debian-12-amd64")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="QEMU accelerator (default: probe)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep the VM's console transcript and logs here (default: a temp dir, removed "
                   "after a clean exit)")
    p.set_defaults(func=ssh_command)


def ssh_command(args: argparse.Namespace) -> int:
    if parse_target(args.target).is_local:
        raise ConfigError("'local' is this machine: there is nothing to ssh into", hint="name a guest target")
    command = list(getattr(args, "passthrough", []))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="trapline-ssh-%s-" % args.target))
    guest = GuestTarget(args.target, accel=args.accel, workdir=workdir)
    guest.start()  # on failure the temp dir stays: the error names the transcript in it
    try:
        if command:
            result = guest.ssh().exec(shell_quote(command) if len(command) > 1 else command[0],
                                           timeout=None)
            sys.stdout.buffer.write(result.stdout)
            sys.stdout.buffer.flush()
            sys.stderr.buffer.write(result.stderr)
            sys.stderr.buffer.flush()
            return result.exit_status
        if shutil.which("ssh") is None:
            raise HostError("the interactive shell needs OpenSSH's ssh client",
                            hint="install openssh-client, or pass a command after --")
        endpoint = guest.endpoint()
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(endpoint.known_hosts_line())
        if args.workdir is not None and guest.machine is not None:  # kept after exit only then
            print("%s: console transcript in %s" % (args.target, guest.machine.transcript_path),
                  file=sys.stderr, flush=True)
        return subprocess.call(endpoint.openssh_argv(known_hosts))
    finally:
        guest.close()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
