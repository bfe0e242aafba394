"""`probekit pretrain` end to end on CPU: 3 steps, then the weights load into timm with strict keys."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from probekit.cli import app

runner = CliRunner()


def test_pretrain_three_steps_writes_loadable_timm_weights(tmp_path, tiny_config_file):
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["pretrain", "--config", str(tiny_config_file), "--out", str(out), "--steps", "3", "--ibot", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2]
    assert {"loss", "dino_loss", "ibot_loss", "lr", "momentum", "teacher_temp", "elapsed_s"} <= set(records[0])
    assert records[0]["momentum"] == 0.996 and records[0]["teacher_temp"] == 0.04
    run = json.loads((out / "run.json").read_text())
    assert run["total_steps"] == 3 and run["steps_done"] == 3 and run["config"]["ibot"] is True
    assert run["config"]["embed_dim"] == 32 and run["git_sha"] and "torch" in run["versions"]

    from safetensors import safe_open

    from probekit.backbones.spec import BackboneSpec
    from probekit.backbones.timm_backbone import build_timm_backbone

    weights = out / "teacher_backbone.safetensors"
    kwargs = {k: v for k, v in run["timm_kwargs"].items() if k not in ("num_classes", "dynamic_img_size")}
    spec = BackboneSpec(name="pretrained-tiny", model=run["timm_model"], kwargs=kwargs)
    backbone = build_timm_backbone(spec, weights=weights)  # load_weights_file: every key must match
    with safe_open(str(weights), "pt") as f:
        assert json.loads(f.metadata()["timm_kwargs"]) == run["timm_kwargs"]
        stored = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not iterable
    assert set(stored) == set(backbone.model.state_dict()) and "mask_token" not in stored
    assert all(v.dtype == torch.float16 for v in stored.values())
    assert torch.equal(backbone.model.pos_embed.half(), stored["pos_embed"])
    features = backbone.forward_layers(torch.randn(1, 3, 48, 64), [-1], norm=True)[-1]
    assert features.patch.shape == (1, 6, 8, 32)


def test_bad_settings_are_one_line_errors(tmp_path, tiny_config_file):
    result = runner.invoke(
        app, ["pretrain", "--config", str(tiny_config_file), "--out", str(tmp_path / "r"), "--global-size", "30"]
    )
    assert result.exit_code == 2 and "multiple of the patch size" in result.output
    assert len(result.output.strip().splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("embed_dim: 32\nlearning_rate: 1\n")
    result = runner.invoke(app, ["pretrain", "--config", str(bad), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "unknown pretrain settings ['learning_rate']" in result.output
