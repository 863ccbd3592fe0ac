"""MkDocs hook: the command reference page, generated from the CLI itself at every build so it cannot drift.

typer's own generator (`python -m typer ganstudio.cli utils docs`) reads the same commands, options,
defaults and help examples that `ganstudio --help` prints. It runs in a subprocess on this checkout's
package (PYTHONPATH), so the page describes the code beside mkdocs.yml, not an installed copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

PAGE = "cli.md"
INTRO = """# Command reference

Every `ganstudio` command with its options, ranges and examples. This page is generated from the CLI
itself each time the guide is built (`python -m typer ganstudio.cli utils docs`), so it always matches
`ganstudio COMMAND --help`.

"""


def reference(root: Path) -> str:
    """typer's Markdown for the whole CLI, its top heading demoted under this page's title."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "typer", "ganstudio.cli", "utils", "docs", "--name", "ganstudio"],
                          cwd=root, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.startswith("# "):
        raise PluginError(f"the CLI reference could not be generated: {done.stderr.strip() or done.stdout[:200]}")
    return INTRO + "#" + done.stdout


def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    root = Path(config.config_file_path).resolve().parent
    files.append(File.generated(config, PAGE, content=reference(root)))
    return files
