"""`ganstudio serve`: the browser studio and its HTTP API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ganstudio.cli.app import ModelOpt, app, friendly
from ganstudio.cli.usage import check_address


@app.command()
@friendly
def serve(
    model: ModelOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind (127.0.0.1 keeps it on this machine).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (1024..65535).")] = 7860,
    share: Annotated[bool, typer.Option("--share", help="Ask Gradio for a public share link.")] = False,
    privileged_port: Annotated[bool, typer.Option("--privileged-port", help="Allow a --port below 1024.")] = False,
    mcp: Annotated[bool, typer.Option("--mcp", help="Also serve sample, sweep, interpolate, walk and the model list as MCP tools "
                                      "at http://HOST:PORT/gradio_api/mcp/ (needs `pip install 'ganstudio[mcp]'`).")] = False,
) -> None:
    """Open the browser studio: sample, sweep dimensions, find directions, interpolate, walk.

    Example: `ganstudio serve` then open http://127.0.0.1:7860; `ganstudio serve --mcp` and point an MCP client
    (Claude Desktop, an IDE) at http://127.0.0.1:7860/gradio_api/mcp/
    """
    check_address(host, port, privileged_port)  # one line now, rather than a traceback from inside gradio
    # Gradio imports IPython (its notebook magics) and matplotlib (to switch plot backends around every
    # request) whenever they are installed: a tenth of the start-up, and CPU on every request (docs/performance.md). This process is
    # never a notebook and draws no plots, so those imports fail here as they would without the packages.
    for unused in ("IPython", "matplotlib"):
        sys.modules.setdefault(unused, None)  # type: ignore[arg-type]
    from ganstudio.studio.app import launch

    launch(model=model, host=host, port=port, share=share, mcp=mcp)
