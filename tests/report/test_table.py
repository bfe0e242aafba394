import json

from probekit.report.results import RESULTS_FORMAT, backbone_label, json_safe, write_result
from probekit.report.table import build_table, to_csv, to_latex, to_markdown, write_tables


def _result(label, task, metrics, created, trivial=None):
    return {
        "format": RESULTS_FORMAT,
        "label": label,
        "task": task,
        "metrics": metrics,
        "created": created,
        "trivial_baseline": trivial or {},
    }


def test_table_rows_are_backbones_columns_are_task_metrics(tmp_path):
    results = [
        _result(
            "dinov2-s14",
            "classification",
            {"top1": 0.8123, "mean_per_class_recall": 0.8},
            "2026-01-01",
            {"top1": 0.2, "mean_per_class_recall": 0.1667},
        ),
        _result("dinov2-s14", "depth", {"d1": 0.9, "abs_rel": 0.1234, "rmse": 0.5}, "2026-01-01"),
        _result("pixels-p14", "classification", {"top1": 0.3, "mean_per_class_recall": 0.25}, "2026-01-01"),
        _result("dinov2-s14", "classification", {"top1": 0.5, "mean_per_class_recall": 0.5}, "2025-01-01"),  # older
    ]
    for i, result in enumerate(results):
        write_result(tmp_path / f"r{i}.json", result)
    collisions: list[str] = []
    header, rows = build_table(results, collisions=collisions)
    assert collisions == ["dinov2-s14 / classification: 2 runs share this cell (?, ?); the newest is shown, marked *"]
    assert header == ["backbone", "cls top-1", "cls mean-recall", "depth δ1", "depth AbsRel", "depth RMSE"]
    assert rows[0][0].startswith("no features") and rows[0][1:3] == ["20.0", "16.7"]
    assert rows[1] == ["pixels-p14", "30.0", "25.0", "–", "–", "–"]
    assert rows[2] == ["dinov2-s14", "81.2*", "80.0*", "90.0", "0.123", "0.500"]  # newest shown, collision marked
    markdown, paths = write_tables(tmp_path)
    assert markdown == to_markdown(header, rows) + "\n\n* " + collisions[0].replace("(?, ?)", "(r3.json, r0.json)")
    assert {p.name for p in paths} == {"table.md", "table.csv", "table.tex", "table_values.csv"}
    assert to_csv(header, rows).splitlines()[2] == "pixels-p14,30.0,25.0,–,–,–"
    assert r"$\delta$1" in to_latex(header, rows) and r"\toprule" in to_latex(header, rows)


def test_results_are_json_safe_and_labels_say_where_weights_came_from(tmp_path):
    import numpy as np

    path = write_result(tmp_path / "x.json", {"a": float("nan"), "b": np.float32(1.5), "c": (1, 2), "d": np.arange(2)})
    assert json.loads(path.read_text()) == {"a": None, "b": 1.5, "c": [1, 2], "d": [0, 1]}
    assert json_safe({"x": [float("inf")]}) == {"x": [None]}
    assert backbone_label({"backbone": "vit-s16", "weights_source": "random-init"}) == "vit-s16 (random init)"
    assert (
        backbone_label({"backbone": "dinov2-s14", "weights_source": "file:/w/d.pth", "weights_sha256": "abcdef0123"})
        == "dinov2-s14 (d.pth, abcdef01)"
    )
    assert backbone_label({"backbone": "dinov2-s14", "weights_source": "hub:timm/x"}) == "dinov2-s14"


def test_few_shot_cells_show_mean_and_spread_and_new_tasks_have_their_columns():
    few_shot = _result("dinov2-s14", "knn", {"top1": 0.61, "mean_per_class_recall": 0.6}, "2026-01-01")
    few_shot["metrics_std"] = {"top1": 0.034, "mean_per_class_recall": 0.02}
    results = [few_shot, _result("dinov2-s14", "logreg", {"top1": 0.7, "mean_per_class_recall": 0.65}, "2026-01-01")]
    header, rows = build_table(results)
    assert header == ["backbone", "knn top-1", "knn mean-recall", "logreg top-1", "logreg mean-recall"]
    assert rows == [["dinov2-s14", "61.0 ± 3.4", "60.0 ± 2.0", "70.0", "65.0"]]


def _uncertain(label, top1, interval, std=None, rmse=None, rmse_interval=None):
    result = _result(label, "classification", {"top1": top1, "mean_per_class_recall": top1}, "2026-01-01")
    result["metrics_ci"] = {"top1": interval}
    if std is not None:
        result["metrics_std"] = {"top1": std}
    return result


def test_cells_show_seeds_and_intervals_and_bold_only_a_clear_winner(tmp_path):
    results = [
        _uncertain("a", 0.80, [0.78, 0.82], std=0.013),
        _uncertain("b", 0.70, [0.68, 0.72]),
        _uncertain("c", 0.50, [0.40, 0.60]),
    ]
    notes: list[str] = []
    header, rows = build_table(results, notes=notes)
    assert rows[0] == ["a", "**80.0 ± 1.3 [78.0, 82.0]**", "80.0"]  # clears b's interval: bold
    assert rows[1] == ["b", "70.0 [68.0, 72.0]", "70.0"]
    assert notes[0].startswith("± std over training seeds") and "bootstrap 95% interval" in notes[0]
    assert notes[1] == "no bold in cls mean-recall: the best or the runner-up has no 95% interval"
    assert to_csv(header, rows).splitlines()[1] == 'a,"80.0 ± 1.3 [78.0, 82.0]",80.0'
    assert r"\textbf{80.0 $\pm$ 1.3 [78.0, 82.0]}" in to_latex(header, rows)
    # overlapping intervals: no bold, and a footnote says why
    results[1]["metrics_ci"]["top1"] = [0.69, 0.785]
    notes = []
    _, rows = build_table(results, notes=notes)
    assert not any("**" in cell for row in rows for cell in row)
    assert "no bold in cls top-1: the best's 95% interval overlaps the runner-up's" in notes
    # lower is better (RMSE): the smallest wins
    depth = [
        _result(label, "depth", {"d1": 0.5, "abs_rel": 0.2, "rmse": rmse}, "2026-01-01")
        for label, rmse in (("a", 0.4), ("b", 0.6))
    ]
    depth[0]["metrics_ci"], depth[1]["metrics_ci"] = {"rmse": [0.35, 0.45]}, {"rmse": [0.5, 0.7]}
    _, rows = build_table(depth)
    assert rows[0][3] == "**0.400 [0.350, 0.450]**" and rows[1][3] == "0.600 [0.500, 0.700]"
    write_result(tmp_path / "r.json", results[0])
    write_result(tmp_path / "s.json", results[1])
    markdown, _ = write_tables(tmp_path)
    assert "no bold in cls top-1" in markdown


def _run(alias, task, metrics, model="vit", source="hub:timm/x", patch=16):
    result = _result(alias if source != "random-init" else f"{alias} (random init)", task, metrics, "2026-01-01")
    result["backbone"] = {"backbone": alias, "backbone_model": model, "weights_source": source, "patch_size": patch}
    return result


def test_encoders_sit_with_their_baselines_and_show_the_gap_to_their_random_init(tmp_path):
    cls = lambda top1: {"top1": top1, "mean_per_class_recall": 0.5}  # noqa: E731
    results = [
        _run("clip-b16", "classification", cls(0.70)),
        _run("clip-b16", "classification", cls(0.40), source="random-init"),
        _run("dinov2-s14", "classification", cls(0.80), patch=14),
        _run("dinov2-s14", "classification", cls(0.35), source="random-init", patch=14),
        _run("pixels-p14", "classification", cls(0.30), model="pixels-p14", source="none", patch=14),
        _run("pixels-p16", "classification", cls(0.25), model="pixels-p16", source="none"),
        _run("siglip-b16", "classification", cls(0.60)),  # no random init run: no gap
    ]
    notes: list[str] = []
    _, rows = build_table(results, notes=notes)
    assert [row[0] for row in rows] == [
        "pixels-p16",
        "clip-b16 (random init)",
        "clip-b16",
        "pixels-p14",
        "dinov2-s14 (random init)",
        "dinov2-s14",
        "siglip-b16",  # its pixels row already sits with clip-b16
    ]
    assert rows[2][1:] == ["70.0 (+30.0)", "50.0"] and rows[5][1] == "80.0 (+45.0)"  # the main metric only
    assert rows[1][1] == "40.0" and rows[6][1] == "60.0"  # baselines and twinless encoders: the value alone
    assert len(notes) == 1 and "random init" in notes[0]
    for i, result in enumerate(results):
        write_result(tmp_path / f"r{i}.json", result)
    assert write_tables(tmp_path)[0].endswith(notes[0])
    notes.clear()
    build_table([r for r in results if "random init" not in r["label"]], notes=notes)
    assert notes == []  # no twins, no gaps to explain


def test_degree_columns_show_one_decimal_and_so_does_their_gap():
    encoder = _result("tiny", "normals", {"mean_angle": 34.1104, "within_11_25": 0.286}, "2026-01-02")
    encoder["backbone"] = {"backbone": "tiny", "weights_source": "hub", "patch_size": 8}
    twin = _result("tiny (random init)", "normals", {"mean_angle": 39.3431, "within_11_25": 0.253}, "2026-01-01")
    twin["backbone"] = {"backbone": "tiny", "weights_source": "random-init", "patch_size": 8}
    _, rows = build_table([encoder, twin])
    assert rows[-1][:3] == ["tiny", "34.1 (-5.2)", "28.6"] and rows[-2][1] == "39.3"


def test_mistyped_identity_blocks_read_as_missing():
    odd = _result("x", "classification", {"top1": 0.5, "mean_per_class_recall": 0.5}, "2026-01-01")
    odd.update(dataset="voc", features=["224"], probe="linear")  # strings and lists where objects belong
    header, rows = build_table([odd])
    assert rows == [["x", "50.0", "50.0"]] and header[0] == "backbone"


def test_values_csv_holds_each_shown_cell_unrounded_with_interval_spread_and_gap(tmp_path):
    import csv

    def run(label, backbone, source, top1, created, **extra):
        result = _result(label, "classification", {"top1": top1, "mean_per_class_recall": 0.5}, created)
        result["backbone"] = {"backbone": backbone, "backbone_model": "vit", "weights_source": source}
        return {**result, **extra}

    results = [
        run("vit-s16 (random init)", "vit-s16", "random-init", 0.4123456, "2026-01-01"),
        run("vit-s16", "vit-s16", "hub:timm/x", 0.8123456, "2026-01-02", metrics_ci={"top1": [0.79, 0.83]}),
        run("vit-s16", "vit-s16", "hub:timm/x", 0.7, "2026-01-01", warnings=[{"cause": "few_steps"}]),  # older: hidden
    ]
    results[1]["metrics_std"] = {"top1": 0.0123}
    for i, result in enumerate(results):
        write_result(tmp_path / f"r{i}.json", result)
    write_tables(tmp_path)
    rows = list(csv.DictReader((tmp_path / "table_values.csv").open()))
    top1 = {r["backbone"]: r for r in rows if r["metric"] == "top1"}
    assert set(top1) == {"vit-s16 (random init)", "vit-s16"} and len(rows) == 4  # 2 rows x 2 columns
    ours = top1["vit-s16"]
    assert float(ours["value"]) == 0.8123456 and float(ours["std"]) == 0.0123  # unrounded, in the metric's units
    assert (float(ours["ci_low"]), float(ours["ci_high"])) == (0.79, 0.83)
    assert float(ours["random_init_value"]) == 0.4123456 and abs(float(ours["gap_to_random_init"]) - 0.4) < 1e-12
    assert ours["runs_in_cell"] == "2" and ours["warnings"] == "0" and ours["results_file"] == "r1.json"
    assert ours["header"] == "cls top-1" and ours["higher_is_better"] == "True" and ours["task"] == "classification"
    twin = top1["vit-s16 (random init)"]
    assert twin["ci_low"] == "" and twin["gap_to_random_init"] == "" and twin["std"] == ""
