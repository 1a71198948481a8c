import pytest

from nasloop.config import Config, ConfigError, build_config, load_config


def test_defaults_have_descriptions():
    for section in Config.model_fields.values():
        sub = section.annotation
        for name, field in sub.model_fields.items():
            assert field.description, f"{sub.__name__}.{name} has no description"


def test_load_toml_and_overrides(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[run]\nbudget = 7\n[memory]\nk = 3\n")
    cfg = load_config(p, {"run.seed": 4, "run.budget": None})
    assert (cfg.run.budget, cfg.run.seed, cfg.memory.k) == (7, 4, 3)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[run]\nbudgte = 3\n", "unknown key 'run.budgte'"),
        ("[run]\nbudget = 'many'\n", "field 'run.budget'"),
        ("[memory]\nnovelty_threshold = 1.5\n", "field 'memory.novelty_threshold'"),
        ("[nonsense]\nx = 1\n", "unknown key 'nonsense'"),
        ("[run\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line(tmp_path, text, needle):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_override_validated():
    with pytest.raises(ConfigError, match="run.budget"):
        build_config({}, {"run.budget": 0})


def test_example_config_is_valid_and_shows_defaults():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "search.example.toml"
    assert load_config(example) == build_config({})
    assert build_config({}).model_dump(exclude={"task"}) == Config().model_dump(exclude={"task"})


def test_training_seed_is_the_run_seed_unless_set():
    from nasloop.tasks.registry import build_task

    plain = build_config({"run": {"seed": 7}})
    assert plain.training_seed() == 7
    fixed = build_config({"run": {"seed": 7}, "train": {"seed": 0}})
    assert fixed.training_seed() == 0
    for kind in ("image-classification", "augmentation", "restoration", "recipes"):
        cfg = build_config({"task": {"kind": kind}, "run": {"seed": 7}, "train": {"seed": 3}})
        job = build_task(cfg).job(1, "x = 1\n")
        assert job.seed == 3, kind
        assert build_task(build_config({"task": {"kind": kind}, "run": {"seed": 7}})
                          ).job(1, "x = 1\n").seed == 7, kind
