"""`probekit report`: one static HTML page from a folder of results JSONs (no server, no CDN, no framework).

The page (index.html, with its pictures in plots/ and figures/ beside it) holds the comparison table of
probekit.report.table (sortable by clicking a header: a few lines of vanilla JS), the plots of
probekit.report.plots, the `probekit show` pictures of a few evaluation images (PCA maps of the stored
features, each saved head's predictions) where the stores named in the JSONs are found, and every run's
provenance. A results JSON is user data: every string that reaches the page goes through html.escape.
"""

from __future__ import annotations

import html
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probekit.errors import ProbekitError
from probekit.files import atomic_write_text
from probekit.report.plots import latest_runs, plot_results
from probekit.report.table import build_table, footnote, read_table_results

log = logging.getLogger(__name__)

FIGURE_IMAGES = 3  # evaluation images per `show` picture


@dataclass(frozen=True)
class Picture:
    """One `show` picture of the page: its title and file (relative to the page), or why there is none."""

    title: str
    file: str | None
    note: str = ""


# -- stores and pictures ---------------------------------------------------------------------------


def find_store(name: Any, directory: Path, stores: Path | None) -> Path | None:
    """The store a results JSON names (a file name), looked up in --stores, beside the results and in the
    suite layout's ../features; only the base name is used, so a JSON cannot point elsewhere."""
    if not isinstance(name, str) or not name:
        return None
    base = Path(name).name
    places = [stores] if stores is not None else []
    for place in [*places, directory, directory.parent / "features"]:
        if (place / base).is_file():
            return place / base
    return None


def evaluation_store(result: dict[str, Any], directory: Path, stores: Path | None) -> tuple[str, Path | None]:
    """(the name, the path or None) of the store a run was evaluated on."""
    splits = mapping(result, "splits")
    name = splits.get(str(result.get("evaluated_on"))) or splits.get("val") or ""
    return str(name), find_store(name, directory, stores)


def pictures(
    results: Sequence[dict[str, Any]], directory: Path, out: Path, stores: Path | None, count: int
) -> list[Picture]:
    """PCA maps of each backbone's evaluation store (dense tasks first), each dense head's predictions and
    each correspondence run's matches (the newest run of each table identity, as the table shows)."""
    from probekit.tasks import TASKS

    results = latest_runs(results)
    dense = sorted(
        (r for r in results if r["task"] in TASKS and TASKS.get(r["task"]).truth_target is not None),
        key=lambda r: (r["task"], r["label"]),
    )
    shown: list[Picture] = []
    seen_labels: set[str] = set()
    for result in [*dense, *[r for r in results if r not in dense]]:
        if result["label"] in seen_labels:
            continue
        seen_labels.add(result["label"])
        shown.append(_picture("pca", result, directory, out, stores, count))
    shown += [_picture("prediction", result, directory, out, stores, count) for result in dense]
    pairs = sorted((r for r in results if r["task"] == "correspondence"), key=lambda r: r["label"])
    shown += [_picture("correspondence", result, directory, out, stores, count) for result in pairs]
    return shown


def _first(store: Path, count: int) -> Any:
    """The first `count` samples of a store, as a `show` source."""
    from probekit.features.store import FeatureStore
    from probekit.report.sources import Source

    return Source(features=store, indices=tuple(range(min(count, len(FeatureStore(store))))))


def _draw_pca(result: dict[str, Any], store: Path, count: int) -> Any:
    from probekit.report.show import show_pca

    return show_pca(_first(store, count))


def _draw_prediction(result: dict[str, Any], store: Path, count: int) -> Any:
    from probekit.report.show import show_prediction

    return show_prediction([result["_path"]], _first(store, count))


def _draw_correspondence(result: dict[str, Any], store: Path, count: int) -> Any:
    """Confident mutual matches between the two images of the store's first pair."""
    from probekit.features.store import FeatureStore
    from probekit.report.show import show_correspondence
    from probekit.report.sources import Source

    features = FeatureStore(store)
    if not features.has_pairs:
        raise ProbekitError(f"{store.name} holds no pair table")
    table = features.read_pairs()
    return show_correspondence(Source(features=store, indices=(int(table.src[0]), int(table.trg[0]))))


# kind -> (what the caption says, how it is drawn from (result, store, images))
DRAWERS = {
    "pca": ("PCA of the patch features", _draw_pca),
    "prediction": ("predictions", _draw_prediction),
    "correspondence": ("matches in the first pair", _draw_correspondence),
}


def _picture(kind: str, result: dict[str, Any], directory: Path, out: Path, stores: Path | None, count: int) -> Picture:
    """One picture written to out/figures, or a Picture whose note says why it is not there."""
    from probekit.report.viz import write_png
    from probekit.tasks.results import file_safe

    name, store = evaluation_store(result, directory, stores)
    what, draw = DRAWERS[kind]
    title = f"{result['label']}: {result['task'] + ' ' if kind != 'pca' else ''}{what} ({name or 'no store named'})"
    if store is None:
        return Picture(title, None, f"store {name or '?'} not found beside the results or in ../features")
    try:
        figure = draw(result, store, count)
    except (ProbekitError, OSError) as error:
        return Picture(title, None, f"not drawn: {error}")
    stem = file_safe(f"{kind}-{store.stem if kind == 'pca' else Path(result['_path']).stem}")
    write_png(out / "figures" / f"{stem}.png", figure.image)
    return Picture(title, f"figures/{stem}.png")


# -- the page --------------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.sortable th { cursor: pointer; background: #f3f3f3; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
.note { color: #8a5a00; } .muted { color: #777; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure { max-width: 48%; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
figure.picture img { min-width: 320px; image-rendering: pixelated; }  /* small stored images, drawn larger */
details { margin: 0.4em 0; } summary { cursor: pointer; } pre { background: #f7f7f7; padding: 0.5em; overflow: auto; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 1em; } dt { color: #555; }
"""

# Click a header: sort the body rows by that column (numbers by value, missing values last), again to reverse.
SCRIPT = """
function cellKey(text) {
  const match = text.trim().match(/^-?\\d+(\\.\\d+)?/);
  return match ? parseFloat(match[0]) : null;
}
function compareCells(a, b) {
  const x = cellKey(a), y = cellKey(b);
  if (x !== null && y !== null) return x - y;
  if (x === null && y === null) return a.localeCompare(b);
  return x === null ? 1 : -1;
}
function sortTable(table, column, header) {
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  table.querySelectorAll("th").forEach((th) => th.removeAttribute("aria-sort"));
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((r, s) => {
    const a = r.cells[column].textContent, b = s.cells[column].textContent;
    const missing = (cellKey(a) === null) - (cellKey(b) === null);
    return missing !== 0 && column > 0 ? missing : (ascending ? 1 : -1) * compareCells(a, b);
  });
  rows.forEach((row) => body.appendChild(row));
}
document.querySelectorAll("table.sortable").forEach((table) => {
  table.querySelectorAll("th").forEach((header, column) => {
    header.addEventListener("click", () => sortTable(table, column, header));
  });
});
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def table_html(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f'<th scope="col" title="click to sort">{esc(h)}</th>' for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="sortable" id="results"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def plots_html(plots: Sequence[str]) -> str:
    if not plots:
        return '<p class="muted">No plots: the results hold no plottable metric.</p>'
    return "".join(f'<figure><img src="{esc(p)}" alt="{esc(Path(p).stem)}"></figure>' for p in plots)


def pictures_html(shown: Sequence[Picture]) -> str:
    if not shown:
        return '<p class="muted">No pictures.</p>'
    parts = []
    for picture in shown:
        if picture.file is None:
            parts.append(f'<p class="note">{esc(picture.title)}: {esc(picture.note)}</p>')
        else:
            parts.append(
                f'<figure class="picture"><img src="{esc(picture.file)}" alt="{esc(picture.title)}">'
                f"<figcaption>{esc(picture.title)}</figcaption></figure>"
            )
    return "".join(parts)


def mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    """data[key] when it is a JSON object, else {} (a results JSON is user data: any key may be mistyped)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def provenance(result: dict[str, Any]) -> dict[str, Any]:
    """What tells where a number came from: backbone and weights, stores, data, settings, versions."""
    backbone, features, probe = mapping(result, "backbone"), mapping(result, "features"), mapping(result, "probe")
    return {
        "file": Path(result["_path"]).name,
        "task": result["task"],
        "backbone": backbone.get("backbone"),
        "weights sha256": backbone.get("weights_sha256"),
        "weights source": backbone.get("weights_source"),
        "dataset": mapping(result, "dataset").get("dataset"),
        "image size": features.get("image_size"),
        "layers": mapping(probe, "settings").get("layers"),
        "features fingerprint": features.get("features_fingerprint"),
        "store fingerprints": result.get("store_fingerprints"),
        "stores": {k: v for k, v in mapping(result, "splits").items() if k in ("train", "val", "test")},
        "evaluated on": result.get("evaluated_on"),
        "chosen": probe.get("chosen"),
        "seed": result.get("seed"),
        "created": result.get("created"),
        "wall seconds": result.get("wall_seconds"),
        "git sha": result.get("git_sha"),
        "versions": result.get("versions"),
    }


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def run_html(result: dict[str, Any]) -> str:
    """One run: its provenance as a definition list, its warnings, its settings in full."""
    facts = "".join(f"<dt>{esc(k)}</dt><dd>{esc(_value(v))}</dd>" for k, v in provenance(result).items())
    given = result.get("warnings")
    warnings: list[Any] = given if isinstance(given, list) else []
    listed = "".join(
        f"<li>{esc(w.get('cause', '?'))}: {esc(w.get('message', ''))}</li>" if isinstance(w, dict) else ""
        for w in warnings
    )
    settings = json.dumps(mapping(result, "probe").get("settings"), indent=2, sort_keys=True, default=str)
    flag = f' <span class="note">{len(warnings)} warning(s)</span>' if warnings else ""
    metrics = json.dumps(result.get("metrics"), sort_keys=True, default=str)
    return (
        f"<details><summary>{esc(result['label'])} / {esc(result['task'])}{flag} "
        f'<span class="muted">{esc(Path(result["_path"]).name)}</span></summary>'
        f"<dl>{facts}<dt>metrics</dt><dd>{esc(metrics)}</dd></dl>"
        + (f'<ul class="note">{listed}</ul>' if listed else "")
        + f"<details><summary>settings</summary><pre>{esc(settings)}</pre></details></details>"
    )


def page(
    title: str,
    table: str,
    notes: Sequence[str],
    plots: Sequence[str],
    shown: Sequence[Picture],
    results: Sequence[dict[str, Any]],
) -> str:
    runs = "".join(run_html(r) for r in sorted(results, key=lambda r: (r["task"], r["label"])))
    noted = "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
    if noted:
        noted = f'<details open><summary class="note">{len(notes)} note(s) on the table</summary>{noted}</details>'

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1>"
        f'<h2 id="table">Comparison</h2><p class="muted">Click a column header to sort.</p>{table}{noted}'
        f'<h2 id="plots">Plots</h2>{plots_html(plots)}'
        f'<h2 id="pictures">Pictures</h2>{pictures_html(shown)}'
        f'<h2 id="runs">Runs ({len(results)})</h2>{runs}'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def write_report(
    directory: str | Path,
    out: str | Path,
    plots: Sequence[Path] | None = None,
    stores: str | Path | None = None,
    images: int = FIGURE_IMAGES,
    title: str | None = None,
) -> Path:
    """Write out/index.html (+ plots/ and figures/) for the results in `directory`; returns the page's path.

    `plots`: PNGs already drawn (a suite's plots/), copied beside the page instead of drawn again."""
    directory, out = Path(directory), Path(out)
    if not directory.is_dir():
        raise ProbekitError(f"{directory} is not a directory of results: run `probekit probe ... --out {directory}`")
    results, problems = read_table_results(directory)
    if not results:
        raise ProbekitError(f"no probekit results JSONs in {directory}: run `probekit probe ... --out {directory}`")
    collisions: list[str] = []
    flagged: list[str] = []
    header, rows = build_table(results, "backbone", collisions, flagged)
    notes = ([footnote(problems)] if problems else []) + [f"* {n}" for n in collisions] + [f"! {n}" for n in flagged]
    out.mkdir(parents=True, exist_ok=True)
    if plots is None:
        plots = plot_results(results, out / "plots")
    else:
        (out / "plots").mkdir(exist_ok=True)
        for path in plots:
            if path.parent.resolve() != (out / "plots").resolve():
                shutil.copyfile(path, out / "plots" / path.name)
    shown = pictures(results, directory, out, Path(stores) if stores is not None else None, images)
    text = page(
        title or f"probekit report: {directory}",
        table_html(header, rows),
        notes,
        [f"plots/{p.name}" for p in plots],
        shown,
        results,
    )
    return atomic_write_text(out / "index.html", text)
