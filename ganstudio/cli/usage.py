"""How the command line reports a user's mistakes in one line, before any work starts.

Typer prints its own usage errors (a word where a number goes, an unknown option) as a framed box of five lines;
OneLineErrors makes them one `error: ...` line with exit code 2, like every UserError. `check_address` refuses a
--port or --host the studio could never serve on, before gradio (seconds to import) is loaded.
"""

from __future__ import annotations

import errno
import socket
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from ganstudio.errors import UserError

# click's exceptions, from the module typer raises them from: click itself, or the copy typer 0.28 vendors
_click = sys.modules[typer.BadParameter.__module__]
PORTS = (1024, 65535)  # below 1024 only with --privileged-port: those belong to system services


class OneLineErrors(TyperGroup):
    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _click.NoArgsIsHelpError as e:  # a bare `ganstudio`: its help, as before
            e.show()
            code = e.exit_code
        except _click.ClickException as e:
            where = f" (see `{e.ctx.command_path} --help`)" if getattr(e, "ctx", None) is not None else ""
            typer.echo(f"error: {' '.join(e.format_message().split())}{where}", err=True)
            code = e.exit_code
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def check_address(host: str, port: int, privileged: bool = False) -> None:
    """One line for a port out of range (or privileged without asking), an address this machine lacks, a port in use."""
    low, high = (1 if privileged else PORTS[0]), PORTS[1]
    if 1 <= port < low:
        raise UserError(f"--port {port} is a privileged port (below {PORTS[0]}): add --privileged-port to use it anyway")
    if not low <= port <= high:
        raise UserError(f"--port {port} is out of range: use {PORTS[0]}..{PORTS[1]} (or 1..{PORTS[0] - 1} with --privileged-port)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError, ValueError):
        raise UserError(f"--host {host[:80]!r}: not an address or a name this machine can resolve") from None
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: a port in TIME_WAIT is free
        try:
            s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(f"--port {port} is in use on {host}: stop what holds it, or pick another --port") from None
            if e.errno == errno.EACCES:
                raise UserError(f"--port {port}: this user may not listen on it ({e.strerror})") from None
            raise UserError(f"--host {host}: this machine has no such address ({e.strerror})") from None
