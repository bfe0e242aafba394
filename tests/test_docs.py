"""The docs stay true to the code: the CLI reference is current, every command and task option is
documented, no page points outside the repository, and relative links resolve."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import typer

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
CLI_MD = DOCS / "cli.md"
PAGES = sorted([REPO / "README.md", *DOCS.rglob("*.md")])
OUTSIDE = ("DESIGN.md", "PROTOCOLS.md", "STYLE.md", "../shared")
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)


def _generator() -> Any:
    """tools/gen_cli_docs.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gen_cli_docs", REPO / "tools" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _command_paths(command: Any, path: str = "probekit") -> list[str]:
    """'probekit extract', 'probekit show pca', ... for every command and sub-command of the app."""
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, f"{path} {name}")
    return paths


def _tasks() -> list[tuple[str, Any]]:
    import probekit.tasks  # noqa: F401 - registers the tasks
    from probekit.tasks.base import TASKS

    return TASKS.items()


def test_cli_reference_is_current() -> None:
    """docs/cli.md is what tools/gen_cli_docs.py writes for today's typer app."""
    assert CLI_MD.read_text() == _generator().render(), (
        "docs/cli.md is stale: run `python tools/gen_cli_docs.py` and commit docs/cli.md"
    )


def test_every_command_and_option_is_in_the_cli_reference() -> None:
    from probekit.cli import app

    text = CLI_MD.read_text()
    root = typer.main.get_command(app)
    paths = _command_paths(root)
    assert {"probekit extract", "probekit probe", "probekit show pca"} <= set(paths)
    for path in paths:
        assert f"## `{path}`" in text, f"{path} is missing from docs/cli.md"
    options = {opt for path in paths for p in _command(root, path).params for opt in getattr(p, "opts", ())}
    missing = sorted(o for o in options if o.startswith("--") and o != "--help" and f"`{o}`" not in text)
    assert not missing, f"options missing from docs/cli.md: {missing}"


def _command(root: Any, path: str) -> Any:
    command = root
    for name in path.split()[1:]:
        command = command.commands[name]
    return command


def test_the_generator_sees_a_new_option() -> None:
    """The staleness check can fail: an app with one more option renders differently."""
    app = typer.Typer()

    @app.command()
    def run(width: int = typer.Option(3, help="How wide.")) -> None:
        """Run it."""

    @app.command()
    def other() -> None:
        """Another one."""

    text = _generator().render(app)
    assert "| `--width` | How wide. | `3` |" in text and "## `probekit run`" in text


@pytest.mark.parametrize("name,task", _tasks(), ids=[name for name, _ in _tasks()])
def test_every_task_option_is_documented(name: str, task: Any) -> None:
    if not hasattr(task, "options_type"):
        pytest.skip(f"task {name} has no options_type yet (the typed-options redesign)")
    page = DOCS / "protocols" / f"{name}.md"
    assert page.is_file(), f"docs/protocols/{name}.md is missing"
    text = page.read_text()
    missing = [f.name for f in dataclasses.fields(task.options_type) if f"`{f.name}`" not in text]
    assert not missing, f"docs/protocols/{name}.md does not document {missing}"


def test_every_task_has_a_protocol_page() -> None:
    for name, _ in _tasks():
        assert (DOCS / "protocols" / f"{name}.md").is_file(), f"docs/protocols/{name}.md is missing"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_no_page_points_outside_the_repository(page: Path) -> None:
    text = page.read_text()
    found = [name for name in OUTSIDE if name in text]
    assert not found, f"{page.relative_to(REPO)} mentions {found}: the docs must stand alone"


def _relative_links(page: Path) -> list[str]:
    links = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # URLs, mailto:, and anchors within the page
        links.append(target.split("#")[0])
    return links


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    """Links to files that do not exist are errors, except into docs/datasets/ while those pages are written."""
    broken = []
    for target in _relative_links(page):
        resolved = (page.parent / target).resolve()
        pending = DOCS / "datasets"
        if not resolved.exists() and not (resolved.is_relative_to(pending) and resolved.suffix == ".md"):
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)} links to missing files: {broken}"


def test_readme_is_short() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= 150


def test_task_option_tables_are_current() -> None:
    """Each task page's generated "Every option" table is what tools/gen_cli_docs.py writes today."""
    from probekit.tasks import TASKS

    generator = _generator()
    for task in TASKS:
        page = REPO / "docs" / "protocols" / f"{task}.md"
        assert page.read_text() == generator.with_options(page.read_text(), task), (
            f"{page} options table is stale: run `python tools/gen_cli_docs.py` and commit it"
        )
