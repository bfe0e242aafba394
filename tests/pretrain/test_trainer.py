"""The training loop: an interrupted run resumes to the same weights as an uninterrupted one."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

from probekit.pretrain import load_pretrain_config, pretrain
from probekit.pretrain.step import DINOStep


def test_resume_reproduces_an_uninterrupted_run(tmp_path, tiny_config_file, monkeypatch):
    config = load_pretrain_config(tiny_config_file).replace(
        steps=4, ibot=True, koleo_loss_weight=0.1, checkpoint_every_minutes=0.0
    )
    straight = load_file(str(pretrain(config, tmp_path / "a", progress=False)))

    original, calls = DINOStep.__call__, []

    def crash_on_third(self, images, schedule):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, images, schedule)

    monkeypatch.setattr(DINOStep, "__call__", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        pretrain(config, tmp_path / "b", progress=False)
    monkeypatch.setattr(DINOStep, "__call__", original)
    resumed = load_file(str(pretrain(config, tmp_path / "b", progress=False)))
    assert set(resumed) == set(straight)
    for key in straight:
        assert (resumed[key] == straight[key]).all(), key
    steps = [line for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert len(steps) == 4  # steps 0, 1 before the crash, 2, 3 after
    assert '"koleo_loss"' in steps[0] and '"ibot_loss"' in steps[0]


def test_time_budget_measures_then_fixes_the_total(tmp_path, tiny_config_file):
    import json

    # 15 s: room for a few steps on a loaded 2-core machine (2.3 s per step after 9 s of setup there)
    config = load_pretrain_config(tiny_config_file).replace(steps=None, max_minutes=0.25)
    pretrain(config, tmp_path / "t", progress=False)
    run = json.loads((tmp_path / "t" / "run.json").read_text())
    assert run["measured_step_seconds"] > 0 and run["total_steps"] >= 1
    assert run["steps_done"] == run["total_steps"] and not run["truncated"]


def test_steps_in_budget_by_hand():
    from probekit.pretrain import PretrainConfig, PretrainError
    from probekit.pretrain.trainer import _steps_in_budget

    # 10 minutes, 5% kept for saving, 30 s of setup: (570 - 30) / 0.5 s per step
    assert _steps_in_budget(PretrainConfig(max_minutes=10), 0.5, 30.0) == 1080
    with pytest.raises(PretrainError, match="allow more minutes"):
        _steps_in_budget(PretrainConfig(max_minutes=0.5), 1.0, 30.0)
