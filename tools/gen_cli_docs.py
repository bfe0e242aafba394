"""Write docs/cli.md, the CLI reference, from the typer app itself (`python tools/gen_cli_docs.py`).

tests/test_docs.py renders the same text in memory and fails when the committed docs/cli.md is stale,
so the reference cannot drift from the options the commands really take.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "cli.md"
HEADER = (
    "# CLI reference\n\n"
    "Generated from the typer app by `python tools/gen_cli_docs.py`; do not edit by hand "
    "(`tests/test_docs.py` fails when this page is stale). Every command also answers `--help`.\n"
)


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _option_names(param: Any) -> str:
    names = [*param.opts, *param.secondary_opts]
    return " / ".join(f"`{name}`" for name in names)


def _default(param: Any) -> str:
    """The default as the user sees it; flags show on/off, required options say so."""
    if param.required:
        return "(required)"
    default = param.default
    if getattr(param, "is_flag", False):
        return "on" if default else "off"
    if default is None or default == () or callable(default):
        return ""
    if isinstance(default, (list, tuple)):
        return f"`{','.join(str(v) for v in default)}`"
    return f"`{default}`"


def _argument_row(param: Any) -> str:
    many = " ..." if param.nargs == -1 else ""
    meaning = _cell(getattr(param, "help", None) or "")
    kind = "argument" if param.required else "argument, optional"
    return f"| `{param.name.upper()}{many}` | {kind}{': ' if meaning else ''}{meaning} | {_default(param)} |"


def _option_row(param: Any) -> str:
    return f"| {_option_names(param)} | {_cell(param.help or '')} | {_default(param)} |"


def _command_section(path: str, command: Any) -> list[str]:
    """One `##` section: usage line, the docstring's first paragraph, and a table of every parameter."""
    lines = [f"## `{path}`", ""]
    help_text = (command.help or "").strip().split("\n\n")[0]
    if help_text:
        lines += [_cell(help_text), ""]
    params = [p for p in command.params if p.name != "help"]
    if not params:
        return lines
    lines += ["| option | meaning | default |", "|---|---|---|"]
    for param in params:
        row = _argument_row if param.param_type_name == "argument" else _option_row
        lines.append(row(param))
    return [*lines, ""]


def _walk(path: str, command: Any) -> list[str]:
    """Sections for `command` and, for a group, every sub-command in the order the app registers them."""
    sections = _command_section(path, command)
    for name, sub in getattr(command, "commands", {}).items():  # a group (typer may vendor its own click)
        sections += _walk(f"{path} {name}", sub)
    return sections


def render(app: typer.Typer | None = None) -> str:
    """The whole of docs/cli.md for `app` (default: probekit's)."""
    if app is None:
        from probekit.cli import app as probekit_app

        app = probekit_app
    root = typer.main.get_command(app)
    body = _walk("probekit", root)
    return HEADER + "\n" + "\n".join(body).rstrip() + "\n"


def main() -> None:
    OUTPUT.write_text(render())
    sys.stdout.write(f"wrote {OUTPUT.relative_to(ROOT)}\n")


if __name__ == "__main__":
    main()
