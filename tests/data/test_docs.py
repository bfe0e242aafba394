"""docs/datasets: every registered dataset is in the index with a page, and the old READMEs point to pages."""

from __future__ import annotations

import re
from pathlib import Path

from probekit.data.registry import dataset_entries

DOCS = Path(__file__).resolve().parents[2] / "docs" / "datasets"


def test_every_registered_dataset_is_indexed_with_an_existing_page():
    index = (DOCS / "README.md").read_text()
    rows = [line for line in index.splitlines() if line.startswith("| `")]
    for name, _ in dataset_entries():
        family = name.removesuffix("-crop0.875")
        row = next((line for line in rows if f"`{family}`" in line.split("|")[1]), None)
        assert row is not None, f"{name} is not in docs/datasets/README.md"
        page = re.search(r"\]\(([^)]+\.md)\)", row.split("|")[-2]).group(1)
        assert (DOCS / page).is_file(), f"{name}: {page} is missing"


def test_readme_paths_of_the_adapters_exist_and_lead_to_a_page():
    for name, entry in dataset_entries():
        readme = DOCS.parents[1] / entry.readme
        assert readme.is_file(), f"{name}: {entry.readme} is missing"
        if readme.parent != DOCS:  # an old datasets/<name>/README.md: a pointer to its page
            for target in re.findall(r"\]\(([^)]+)\)", readme.read_text()):
                assert (readme.parent / target).resolve().is_file(), f"{entry.readme} points to missing {target}"
