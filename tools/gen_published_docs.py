"""Write docs/published.md, the list of published results `probekit table --published` compares with, from
probekit/references/published.yaml and the protocol vocabulary of probekit/report/published.py
(`python tools/gen_published_docs.py`).

tests/report/test_published.py renders the same text in memory and fails when the committed page is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "published.md"

INTRO = """# Published results beside ours

Generated from `probekit/references/published.yaml` by `python tools/gen_published_docs.py`; do not edit by
hand (`tests/report/test_published.py` fails when this page is stale).

`probekit table DIR --published` puts, under each row of the comparison table, a row `<row>: paper [n]` with
the published number each of the row's runs is comparable to, and a row `<row>: ours - paper` with our number
minus the paper's (percentage points for percent columns; for RMSE and AbsRel a negative difference means we
are better). `[n]` points to the numbered sources under the table; a matched metric the table has no column
for (Probe3D's point-level SPair recall) gets a footnote line of its own. When no run matches any entry, one
line says so and the table is written as usual. Nothing of this enters the results JSONs.

## How a run is matched

A run is compared with an entry when all of these hold:

- **model**: the run's backbone is the entry's probekit alias (`probekit backbones`) with the hub's weights
  (`backbone.weights_source` `hub:...`, so the label is the bare alias). Random-init twins, local weights
  (`--weights FILE`), `hf:` names and pixels never match: no paper number describes them.
- **task** and **dataset**: the run's task, and its dataset is one of the entry's. The first dataset is the one
  the paper's numbers come from; the others share its evaluation split but not its training set (NYU: the
  paper's ~24k BTS frames are `nyuv2-sync`; `nyuv2` and `nyuv2-raw` train on the 795 labelled frames and test
  on the same 654). A run on another listed dataset is still compared, and its reference line says which data
  the paper used and which the run used.
- **protocol**: what the run's settings amount to (`probe.settings`, `probe.options`, `probe.preset`), one
  rule per task, must be the entry's protocol:

| protocol | tasks | the published setup, and the probekit runs that map to it |
|---|---|---|
{protocols}

Settings outside these rules (segmentation on 2 layers, depth on 3, a trained correspondence projection,
logreg) and few-shot runs (`--shots`) map to no protocol and are never compared. The number of samples is not
checked: a run on part of a dataset (`extract --limit`) is compared with the paper's full-dataset number.
Training schedules, image sizes and heads may still differ from the paper's: the presets (`probekit probe
--preset dinov2-nyu-lin1`, ...) come closest; an entry's `note` names the differences known to matter.

## Units

Values are stored in probekit's units: fractions for the metrics the table prints in percent (top-1, mIoU, δ1,
PCK), metres for RMSE. Loading the file checks every entry (one error line naming the entry and the fix): the
model is an alias, the task, datasets and protocol are known and belong together, the metric is one the task
reports, a fraction is not written in percent, and every entry has a source (paper + table, or repository +
commit + file). Two entries for the same model, task, dataset, protocol and metric are an error.

## Adding an entry

Append to `probekit/references/published.yaml` (`model`, `task`, `dataset` (a name or a list), `protocol`,
`metric`, `value`, `source`, optionally `note`), check the number against its source, then run
`python tools/gen_published_docs.py` and commit both files.

## Numbers left out

Left out because the protocol could not be tied to a probekit setting or the dataset is not a probekit one:
DINOv3's SPair, NAVI and DAVIS columns (the model card gives the numbers but not the matching protocol), its
ImageNet-ReaL / -R / ObjectNet columns, and DINOv2's NYUd → SUN RGB-D transfer column.

## Entries

| model | task | dataset | protocol | metric | value (as the table prints it) | source |
|---|---|---|---|---|---|---|
"""


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _shown(value: float) -> str:
    """A value with the digits it was given and at least one decimal: 79.0, 93.43, 0.449."""
    text = f"{round(value, 4):g}"
    return text if "." in text else f"{text}.0"


def render() -> str:
    """The page for today's YAML and protocol vocabulary."""
    sys.path.insert(0, str(ROOT))
    from probekit.report.published import PROTOCOLS, is_fraction, load_published

    protocols = "\n".join(
        f"| `{name}` | {', '.join(tasks)} | {_cell(meaning)} |" for name, (tasks, meaning) in PROTOCOLS.items()
    )
    rows = []
    for entry in load_published():
        shown = _shown(100 * entry.value) if is_fraction(entry.task, entry.metric) else _shown(entry.value)
        source = entry.source + (f" — {entry.note}" if entry.note else "")
        rows.append(
            f"| {entry.model} | {entry.task} | {', '.join(entry.datasets)} | `{entry.protocol}` | {entry.metric} "
            f"| {shown} | {_cell(source)} |"
        )
    return INTRO.format(protocols=protocols) + "\n".join(rows) + "\n"


def main() -> None:
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
