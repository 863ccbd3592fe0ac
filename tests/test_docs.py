"""The documentation is checked like code: the guide builds without a warning, its command reference holds every
command, the README stays short, its shell commands run as written, and no relative link points nowhere."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from ganstudio.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_BUDGET = 12 * 1024  # bytes: the front door is read in five minutes

# README commands that run as written (a few seconds each on the shipped checkpoints).
RUN = {"ganstudio sample", "ganstudio interpolate", "ganstudio walk", "ganstudio info", "ganstudio export"}
# README commands deliberately not run here, and why.
NOT_RUN = {
    "pip": "installs packages",
    "python -m pytest": "the whole suite: CI runs it",
    "ganstudio serve": "serves until stopped",
    "ganstudio train": "trains for minutes (tests/test_train.py trains for real)",
    "ganstudio eval": "a minute of CPU, and it rewrites eval.json beside a shipped checkpoint (tests/test_eval.py)",
    "ganstudio project": "needs the user's own image (tests/test_projection.py)",
    "torchrun": "trains several processes (tests/test_distributed.py)",
    "docker": "builds an image (.ci/container)",
    "curl": "needs a running server (tests/test_routes.py)",
    "mkdocs": "builds or serves the guide (test_the_guide_builds_strictly)",
}


def shell_blocks(text: str) -> list[str]:
    """The bodies of the ```bash / ```sh / ```shell / ```console blocks of a Markdown text."""
    return re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", text, flags=re.M | re.S)


def command_lines(block: str) -> list[str]:
    """One entry per shell line, continuation lines joined, comment-only and blank lines dropped."""
    joined = re.sub(r"\\\n", " ", block)
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def commands(line: str) -> list[str]:
    """The command names of one line ("ganstudio walk", "python -m pytest", "pip"), split at && ; and |."""
    names, words = [], []
    for word in shlex.split(line, comments=True) + ["&&"]:
        if word in ("&&", ";", "|", "||"):
            if words:
                names.append(_name(words))
            words = []
        else:
            words.append(word)
    return names


def _name(words: list[str]) -> str:
    if words[0] == "nice":  # `nice -n 19 CMD`: the command is what it runs
        return _name(words[3:] if words[1] == "-n" else words[1:])
    if words[0] in ("python", "python3") and words[1:2] == ["-m"]:
        return " ".join(words[:3])
    if words[0] == "ganstudio" and len(words) > 1:
        return " ".join(words[:2])
    return words[0]


def guide_pages() -> list[Path]:
    """The guide's own pages, as mkdocs.yml's nav lists them outside "Notes and measurements" (dated notes keep the
    commands of their day), and CONTRIBUTING.md."""
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:\n", 1)[1]
    pages = re.findall(r"^  - [^:]+: (\S+\.md)$", nav, flags=re.M)  # top-level entries only (two spaces)
    return [ROOT / "docs" / page for page in pages if (ROOT / "docs" / page).is_file()] + [ROOT / "CONTRIBUTING.md"]


def ganstudio_invocations(line: str) -> list[list[str]]:
    """The argument lists given to the ganstudio CLI on one shell line: `ganstudio ...`, `python -m ganstudio ...`,
    `nice -n 19 ganstudio ...` and `torchrun ... -m ganstudio ...`, split at && ; | and ||."""
    found, words = [], []
    for word in shlex.split(line, comments=True) + ["&&"]:
        if word not in ("&&", ";", "|", "||"):
            words.append(word)
            continue
        if words[:1] == ["nice"]:
            words = words[3:] if words[1:2] == ["-n"] else words[1:]
        if words[:1] == ["ganstudio"]:
            found.append(words[1:])
        elif words[:1] in (["python"], ["python3"], ["torchrun"]) and "ganstudio" in words:
            at = words.index("ganstudio")
            if words[at - 1] == "-m":
                found.append(words[at + 1:])
        words = []
    return found


def cli_accepts(args: list[str]) -> tuple[bool, str]:
    """Whether the CLI knows the command and every option named in args: click parses the whole line, refusing an
    unknown command or option, before the eager --help stops it (values are not converted, nothing runs)."""
    from typer.testing import CliRunner

    done = CliRunner().invoke(app, [*args, "--help"])
    return done.exit_code == 0, done.output


def test_the_option_check_can_fail():
    assert cli_accepts(["sample", "--seed", "7", "--gif", "--scale", "8"])[0]
    assert not cli_accepts(["sample", "--no-such-option", "1"])[0]
    assert not cli_accepts(["no-such-command"])[0]


def test_every_ganstudio_command_in_the_guide_names_real_commands_and_options():
    """A guide page cannot show an option the CLI lost (or never had): each `ganstudio` line of its shell blocks is
    parsed by the CLI itself."""
    lines = [(page.name, line) for page in [README, *guide_pages()] for block in shell_blocks(page.read_text())
             for line in command_lines(block)]
    calls = [(name, line, args) for name, line in lines for args in ganstudio_invocations(line)]
    assert len(calls) >= 40, f"only {len(calls)} ganstudio commands found in the guide: the parser no longer matches it"
    refused = [f"{name}: {line}\n{out.strip().splitlines()[-2:]}" for name, line, args in calls
               for ok, out in [cli_accepts(args)] if not ok]
    assert not refused, "guide commands the CLI refuses:\n" + "\n".join(refused)


def test_the_readme_fits_its_budget():
    size = len(README.read_bytes())
    assert size < README_BUDGET, f"README.md is {size:,} bytes; the front door stays under {README_BUDGET:,}: move detail to docs/"


def test_every_readme_command_runs_or_is_listed_as_long_running(tmp_path):
    """Each command in the README's shell blocks runs as written, in a temporary directory on this checkout's
    package, or is named in NOT_RUN: a new README command cannot slip in untested."""
    lines = [line for block in shell_blocks(README.read_text()) for line in command_lines(block)]
    assert lines, "the README has no shell blocks: the parser no longer matches how it is written"
    unknown = sorted({c for line in lines for c in commands(line) if c not in RUN and c not in NOT_RUN})
    assert not unknown, f"README commands neither run by this test nor listed in NOT_RUN: {unknown}"

    shim = tmp_path / "bin" / "ganstudio"  # `ganstudio` as written, running this checkout's code
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ganstudio "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    work = tmp_path / "work"
    work.mkdir()
    ran = [line for line in lines if all(c in RUN for c in commands(line))]
    assert ran, "none of the README's commands is cheap enough to run: the tour should show one"
    for line in ran:
        done = subprocess.run(["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"README command failed ({done.returncode}): {line}\n{done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr, f"{line}\n{done.stderr}"


def relative_links(text: str) -> list[str]:
    """Targets of Markdown links/images and HTML src/href attributes that are not URLs or in-page anchors."""
    targets = re.findall(r"\]\(([^)\s]+)", text) + re.findall(r"""(?:src|href)=["']([^"']+)""", text)
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md"])
def test_relative_links_point_at_files_that_exist(name):
    links = relative_links((ROOT / name).read_text())
    assert links, f"{name} links to nothing: the link parser no longer matches how it is written"
    missing = [t for t in links if not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"{name} links to files that do not exist: {missing}"


def cli_commands() -> list[str]:
    """Every command path of the CLI ("sample", "info", ... and any sub-group's "group sub")."""
    def walk(group, prefix: str) -> list[str]:
        out = []
        for name, cmd in getattr(group, "commands", {}).items():
            out.append(f"{prefix}{name}")
            out += walk(cmd, f"{prefix}{name} ")
        return out
    return walk(typer.main.get_command(app), "")


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason='mkdocs is not installed: pip install -e ".[docs]" (CI does)')
def test_the_guide_builds_strictly_with_every_command_in_its_reference(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr}"
    assert "WARNING" not in done.stderr, done.stderr
    reference = (site / "cli" / "index.html").read_text()
    headings = set(re.findall(r"<h[1-6][^>]*><code>ganstudio ([^<]+)</code>", reference))  # one section per command
    names = cli_commands()
    assert len(names) >= 10, names
    missing = [n for n in names if n not in headings]
    assert not missing, f"the command reference lacks: {missing}"
    assert not (site / "hooks").exists(), "the hook's source was published with the site"
    # mkdocs checks the anchors of links between its pages; the README's links into the guide are checked here
    for name in ("README.md", "CONTRIBUTING.md"):
        for target in relative_links((ROOT / name).read_text()):
            path, _, anchor = target.partition("#")
            if anchor and path.startswith("docs/") and path.endswith(".md"):
                page = Path(path).relative_to("docs").with_suffix("")
                built = site / (page.parent if page.name == "index" else page) / "index.html"
                html = built.read_text() if built.is_file() else ""
                assert f'id="{anchor}"' in html, f"{name} links to {target}: the guide has no such heading"
