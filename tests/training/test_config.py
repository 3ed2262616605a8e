"""Tests of the one configuration table (config/) and the JSON argument system built on it
(training/config.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path

import pytest

from config import KEYS, ignored, keys_of
from training.config import (
    CLI_SOURCE,
    Args,
    ConfigError,
    add_args_to_parser,
    load_args,
    parse_cli,
    save_args,
    schema,
)

REPO = Path(__file__).resolve().parents[2]
VLSM = REPO / "args" / "args_vlsm.json"
DLSM = REPO / "args" / "args_dlsm.json"
#: A run's args.json written by the argument system before the one table (commit 1c5b6f1):
#: args_dlsm.json with batch_size 3, eval_thresh [0.3, 0.45], grid_channels 16, an lstm, ...
OLD_RUN_ARGS = Path(__file__).parent / "fixtures" / "run_args_v1.json"
#: Every argument file the project ships or has written: the release's, the shipped runs',
#: and the old-format run's.
ARGS_FILES = sorted([*(REPO / "args").glob("*.json"), *(REPO / "pretrained").glob("*/args.json"),
                     *(REPO.parent / "shared" / "seed").glob("**/args*.json"), OLD_RUN_ARGS])


def write(tmp_path: Path, obj, name: str = "args.json") -> Path:
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


# --------------------------------------------------------------------------------------------
# Schema and release files
# --------------------------------------------------------------------------------------------
def test_schema_complete():
    specs = schema()
    for spec in specs.values():
        assert spec.help and spec.part
        assert spec.type in (int, float, bool, str)
    release = {"argsjs", "logdir", "split_file", "batch_size", "im_batch", "im_h", "im_w", "nvox",
               "im_net", "grid_net", "rnn", "norm", "lr", "beta1", "decay_rate", "decay_steps",
               "niters", "ckpt_iters", "sum_iters", "val_im_batch", "prefetch_threads",
               "rng_seed", "ray_samples", "proj_x", "sepup", "im_skip", "ckpt", "loglevel",
               "run_trace", "log", "eval_thresh", "split", "result_file", "val_split_file",
               "test_split_file", "val_batch_size", "test_batch_size", "test_im_batch"}
    assert release <= set(specs) | set(ignored())
    assert {"data_root", "queue_size", "loss", "im_channels", "grid_channels"} <= set(specs)


def test_an_old_runs_args_json_loads_unchanged():
    """A run's args.json written before the one table (fixture) still loads, to the same
    values in the same order: saving it again writes the old file plus the keys added since
    (each at its default), so old and new runs read alike."""
    old = json.loads(OLD_RUN_ARGS.read_text())
    new = load_args(OLD_RUN_ARGS).to_dict()
    assert [k for k in new if k in old] == list(old)
    assert {k: new[k] for k in old if k != "argsjs"} == {k: v for k, v in old.items()
                                                         if k != "argsjs"}
    assert {k: new[k] for k in new if k not in old} == {"model": None}


@pytest.mark.parametrize("path", ARGS_FILES, ids=lambda p: str(p.relative_to(REPO.parent)))
def test_every_shipped_or_written_args_file_loads(path):
    args = load_args(path)
    assert args.argsjs == str(path)
    raw = json.loads(path.read_text())
    assert {k: v for k, v in args.to_dict().items() if k in raw and k != "argsjs"} == \
        {k: v for k, v in raw.items() if k in schema() and k != "argsjs"}


def test_defaults():
    """The table's defaults are the release V-LSM's (every key of args/args_vlsm.json) and
    this project's own defaults for the rest."""
    a = load_args()
    release = {k: v for k, v in json.loads(VLSM.read_text()).items() if k in schema()}
    assert {k: getattr(a, k) for k in release} == release
    assert (a.data_root, a.split_file, a.logdir, a.loss) == (
        "datasets/full", "data/splits.json", "./log", "ce")
    assert a.eval_thresh == (0.4,) and a.im_channels == 32 and a.grid_channels == 32
    assert (a.argsjs, a.model, a.val_batch_size, a.eval_seed) == (None, None, 4, 1)


def test_release_vlsm_file():
    a = load_args(VLSM)
    expected = dict(batch_size=8, im_batch=4, lr=1e-3, beta1=0.9, niters=100000,
                    ckpt_iters=5000, sum_iters=50, im_net="unet", grid_net="unet32", rnn="gru",
                    norm="IN", nvox=32, im_h=224, im_w=224, logdir="./log",
                    split_file="data/splits.json", rng_seed=0, loss="ce")
    assert {k: getattr(a, k) for k in expected} == expected
    assert a.argsjs == str(VLSM)


def test_release_dlsm_file():
    a = load_args(DLSM)
    expected = dict(batch_size=2, im_batch=4, niters=200000, ray_samples=64, proj_x=4,
                    sepup=True, im_skip=True, loss="l1", lr=1e-3, nvox=32, grid_net="unet32")
    assert {k: getattr(a, k) for k in expected} == expected


# --------------------------------------------------------------------------------------------
# Precedence and parsing
# --------------------------------------------------------------------------------------------
def test_precedence_cli_over_file_over_defaults(tmp_path):
    path = write(tmp_path, {"batch_size": 3, "lr": 0.5, "norm": "BN"})
    a = load_args(path, ["--batch_size", "5"], defaults={"batch_size": 9, "lr": 0.1,
                                                          "niters": 7})
    assert a.batch_size == 5  # command line
    assert a.lr == 0.5 and a.norm == "BN"  # file
    assert a.niters == 7  # script default
    assert a.beta1 == 0.9  # schema default
    b = load_args(path, {"lr": 0.25})
    assert b.lr == 0.25 and b.batch_size == 3


def test_argsjs_from_overrides_and_recorded(tmp_path):
    path = write(tmp_path, {"argsjs": None, "niters": 11})
    a = load_args(None, ["--argsjs", str(path), "--niters", "12"])
    assert a.argsjs == str(path) and a.niters == 12


def test_cli_value_syntax():
    a = load_args(None, ["--sepup", "false", "--im_skip", "--eval_thresh", "0.3,0.5",
                         "--ckpt", "none", "--lr=0.01"])
    assert a.sepup is False and a.im_skip is True
    assert load_args(None, ["--sepup", "yes"]).sepup is True
    assert a.eval_thresh == (0.3, 0.5) and a.ckpt is None and a.lr == 0.01
    assert load_args(None, ["--eval_thresh", "[0.2, 0.6]"]).eval_thresh == (0.2, 0.6)
    assert load_args(None, ["--eval_thresh", "0.2", "0.7"]).eval_thresh == (0.2, 0.7)
    assert load_args(None, ["--ckpt", "log/run/mvnet-5"]).ckpt == "log/run/mvnet-5"


def test_int_accepted_for_float_and_list_stored_as_tuple(tmp_path):
    a = load_args(write(tmp_path, {"lr": 1, "eval_thresh": [0.5]}))
    assert a.lr == 1.0 and isinstance(a.lr, float) and a.eval_thresh == (0.5,)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
def test_unknown_key_in_file(tmp_path):
    path = write(tmp_path, {"batchsize": 8})
    with pytest.raises(ConfigError) as e:
        load_args(path)
    msg = str(e.value)
    assert str(path) in msg and "'batchsize'" in msg and "did you mean 'batch_size'" in msg


def test_unknown_key_on_command_line():
    with pytest.raises(ConfigError) as e:
        load_args(None, ["--grid_nte", "unet32"])
    assert CLI_SOURCE in str(e.value) and "did you mean 'grid_net'" in str(e.value)
    with pytest.raises(ConfigError, match="did you mean 'im_skip'"):
        load_args(None, ["--im_skp=true"])
    with pytest.raises(ConfigError, match="unexpected value"):
        load_args(None, ["stray"])


def test_unknown_key_in_overrides_dict_without_close_match():
    with pytest.raises(ConfigError) as e:
        load_args(None, {"zzzzzz": 1})
    assert "overrides" in str(e.value) and "'zzzzzz'" in str(e.value)
    assert "did you mean" not in str(e.value)


@pytest.mark.parametrize("key,value,expected,given", [
    ("batch_size", "8", "expects int", "str '8'"),
    ("batch_size", 8.0, "expects int", "float 8.0"),
    ("batch_size", True, "expects int", "bool True"),
    ("sepup", "true", "expects bool", "str 'true'"),
    ("lr", None, "expects float", "null"),
    ("eval_thresh", 0.4, "expects list of float", "float 0.4"),
    ("eval_thresh", [0.4, "x"], "expects list of float", "str 'x'"),
    ("split_file", 3, "expects str", "int 3"),
])
def test_wrong_type_in_file(tmp_path, key, value, expected, given):
    path = write(tmp_path, {key: value})
    with pytest.raises(ConfigError) as e:
        load_args(path)
    msg = str(e.value)
    assert str(path) in msg and f"'{key}'" in msg and expected in msg and given in msg


@pytest.mark.parametrize("tokens,fragment", [
    (["--batch_size", "two"], "'batch_size' expects int, got 'two'"),
    (["--lr", "fast"], "'lr' expects float, got 'fast'"),
    (["--sepup", "maybe"], "'sepup' expects bool, got 'maybe'"),
    (["--eval_thresh", "0.3,high"], "'eval_thresh' expects list of float, got 'high'"),
    (["--eval_thresh", "[0.3,"], "invalid JSON list"),
    (["--nvox", "32", "64"], "unexpected value(s) ['64']"),
    (["--batch_size"], "expected one argument"),
])
def test_wrong_type_on_command_line(tokens, fragment):
    with pytest.raises(ConfigError) as e:
        load_args(None, tokens)
    assert CLI_SOURCE in str(e.value) and fragment in str(e.value)


@pytest.mark.parametrize("overrides,fragment", [
    ({"grid_net": "unet23"}, "did you mean 'unet32'"),
    ({"nvox": 48}, "must be one of [32, 64]"),
    ({"batch_size": 0}, "'batch_size' must be >= 1"),
    ({"im_batch": 21}, "'im_batch' (21) exceeds num_renders"),
    ({"im_h": 100}, "'im_h' must be a multiple of 16"),
    ({"eval_thresh": [1.5]}, "(0, 1)"),
    ({"loss": "l2"}, "must be one of ['ce', 'l1']"),
])
def test_invalid_values(overrides, fragment):
    with pytest.raises(ConfigError) as e:
        load_args(None, overrides)
    assert fragment in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found.*missing.json"):
        load_args(tmp_path / "missing.json")
    bad = write(tmp_path, "{not json", "bad.json")
    with pytest.raises(ConfigError, match="bad.json: invalid JSON"):
        load_args(bad)
    lst = write(tmp_path, [1, 2], "list.json")
    with pytest.raises(ConfigError, match="list.json: must hold a JSON object"):
        load_args(lst)


def test_grid_net_nvox_mismatch_warns(caplog):
    with caplog.at_level("WARNING"):
        a = load_args(None, {"nvox": 64})
    assert a.grid_net == "unet32" and "unet64" in caplog.text


# --------------------------------------------------------------------------------------------
# Args object
# --------------------------------------------------------------------------------------------
def test_args_frozen_replace_and_direct_construction():
    a = load_args(VLSM)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.batch_size = 3  # type: ignore[misc]
    b = a.replace(batch_size=3)
    assert (a.batch_size, b.batch_size, b.argsjs) == (8, 3, a.argsjs)
    with pytest.raises(ConfigError, match="'batch_size' expects int"):
        a.replace(batch_size="3")
    with pytest.raises(ConfigError, match="Args"):
        Args(nvox="32")  # type: ignore[arg-type]
    assert Args(eval_thresh=[0.3]).eval_thresh == (0.3,)  # type: ignore[arg-type]


def test_split_file_for():
    a = load_args(None, {"split_file": "s.json", "val_split_file": "v.json"})
    assert (a.split_file_for("train"), a.split_file_for("val"), a.split_file_for("test")) == (
        "s.json", "v.json", "s.json")


def test_save_and_reload_round_trip(tmp_path):
    a = load_args(DLSM, ["--eval_thresh", "0.3,0.4", "--ckpt", "x/mvnet-5"])
    save_args(a, tmp_path / "args.json")
    d = json.loads((tmp_path / "args.json").read_text())
    assert d == a.to_dict() and d["eval_thresh"] == [0.3, 0.4]
    b = load_args(tmp_path / "args.json")
    assert b.replace(argsjs=a.argsjs) == a


# --------------------------------------------------------------------------------------------
# Command line helpers
# --------------------------------------------------------------------------------------------
def test_parse_cli_file_and_overrides():
    args, extra = parse_cli(["--argsjs", str(VLSM), "--batch_size", "2", "--sepup"])
    assert args.batch_size == 2 and args.sepup is True and args.argsjs == str(VLSM)
    assert vars(extra) == {}


def test_parse_cli_extra_options_and_script_defaults():
    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--watch", action="store_true")
        p.add_argument("--every", type=int, default=3)

    args, ns = parse_cli(["--watch", "--split", "val"], extra=extra,
                         defaults={"split": "train", "niters": 5})
    assert ns.watch is True and ns.every == 3
    assert args.split == "val" and args.niters == 5


def test_parse_cli_reads_run_args_from_log(tmp_path):
    run = tmp_path / "run"
    save_args(load_args(DLSM, {"batch_size": 3}), run / "args.json")
    args, _ = parse_cli(["--log", str(run), "--test_batch_size", "1"])
    assert args.batch_size == 3 and args.loss == "l1" and args.test_batch_size == 1
    assert args.log == str(run) and args.argsjs == str(run / "args.json")


def test_parse_cli_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        parse_cli(["--batch_sise", "2"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unknown argument 'batch_sise'" in err and "did you mean 'batch_size'" in err
    with pytest.raises(SystemExit) as e:
        parse_cli(["--argsjs", "/no/such/args.json"])
    assert e.value.code == 2 and "/no/such/args.json" in capsys.readouterr().err


def test_parse_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        parse_cli(["--help"], description="Train a V-LSM.")
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "Train a V-LSM." in out and "--batch_size" in out and "model arguments" in out


def test_add_args_to_parser_keeps_only_given_keys():
    p = add_args_to_parser(argparse.ArgumentParser())
    ns = p.parse_args(["--nvox", "64", "--eval_thresh", "0.1", "0.2", "--sepup"])
    assert vars(ns) == {"nvox": "64", "eval_thresh": ["0.1", "0.2"], "sepup": "true"}


# --------------------------------------------------------------------------------------------
# One table: the model, the loader and the scripts read their parts of it
# --------------------------------------------------------------------------------------------
#: For each model argument with a rule: a value the arguments and the model both refuse.
MODEL_REFUSED = {"im_net": "resnet", "grid_net": "unet16", "rnn": "rnn", "norm": "GN",
                 "im_channels": 0, "grid_channels": 0, "depth_channels": 0,
                 "depth_head": "both", "ray_samples": 0, "proj_x": 2, "im_h": 0, "im_w": 0}


def test_model_and_arguments_apply_the_same_rules():
    """The model (lsm_config) takes the type, minimum and choices of its keys from the table,
    as the arguments do: every choice the arguments offer builds a model configuration with
    that value, every value they refuse the model refuses too, naming the key, and the model
    types values as the table does (a Keras config's 32.0 is the int 32)."""
    from models.lsm import DEFAULT_CONFIG, lsm_config
    from training.tasks import model_config

    assert set(MODEL_REFUSED) <= set(keys_of("model", script="both"))
    for name, bad in MODEL_REFUSED.items():
        with pytest.raises(ConfigError, match=f"'{name}'"):
            load_args(None, {name: bad})
        with pytest.raises(ValueError, match=name):
            lsm_config({name: bad})
    for name in keys_of("model", script="both"):
        for choice in KEYS[name].choices or ():
            args = load_args(None, {name: choice, "grid_net": "unet64"} if choice == 64
                             else {name: choice})
            assert lsm_config(model_config(args))[name] == (
                "None" if choice == "none" else choice), name
    cfg = lsm_config({"nvox": 32.0, "ray_samples": 8.0, "sepup": 0, "z_range": [1, 2]})
    assert (type(cfg["nvox"]), cfg["ray_samples"], cfg["sepup"], cfg["z_range"]) == (
        int, 8, False, (1.0, 2.0))
    assert {k: type(v) for k, v in DEFAULT_CONFIG.items()} == {
        k: type(v) for k, v in lsm_config(DEFAULT_CONFIG).items()}


def test_table_choices_are_the_model_registries():
    from models.depth_nets import DEPTH_HEADS, PROJ_X
    from models.grid_nets import GRID_NETS
    from models.norms import NORMS, canonical_norm
    from training.config import registry_names

    assert set(KEYS["grid_net"].choices) == set(GRID_NETS)
    assert set(KEYS["depth_head"].choices) == set(DEPTH_HEADS)
    assert set(KEYS["proj_x"].choices) == set(PROJ_X)
    assert {canonical_norm(n) for n in KEYS["norm"].choices} == set(NORMS)
    for name in ("rnn", "model"):  # the names the project ships are registered
        assert set(KEYS[name].choices) <= set(registry_names(KEYS[name])), name


def test_registry_keys_take_any_registered_name(monkeypatch):
    """A registry key's value outside the shipped names is checked against the registry
    (a new fuser is one file, no table edit); one not registered is refused, naming both."""
    import training.config as tc

    monkeypatch.setattr(tc, "registry_names", lambda key: (*key.choices, "mean"))
    assert load_args(None, ["--rnn", "mean"]).rnn == "mean"
    with pytest.raises(ConfigError, match=r"'rnn' must be one of \['gru', 'lstm', 'mean'\], "
                       r"got 'meen'; did you mean 'mean'"):
        load_args(None, ["--rnn", "meen"])


def test_loader_config_is_the_tables_loader_part():
    from data.loaders import LoaderConfig

    fields = {f.metadata.get("key", f.name) for f in dataclasses.fields(LoaderConfig)}
    assert fields == set(keys_of("loader")) | {"num_shards", "shard_index"}
    assert {"data_root", "nvox", "im_h", "batch_size", "test_im_batch", "eval_seed",
            "loader"} <= fields and not {"lr", "grid_net", "rnn"} & fields


@pytest.mark.parametrize("script,shown,hidden", [
    ("train", {"batch_size", "lr", "eval_thresh", "nvox", "model"},
     {"split", "result_file", "test_batch_size", "sleep_time"}),
    ("eval", {"split", "result_file", "test_batch_size", "eval_thresh", "nvox", "model"},
     {"batch_size", "lr", "niters", "init_from", "peer_timeout"}),
])
def test_each_script_shows_the_keys_the_table_gives_it(capsys, script, shown, hidden):
    from training import cli

    main = cli.train_main if script == "train" else cli.test_main
    with pytest.raises(SystemExit) as e:
        main("vlsm", ["--help"])
    out = capsys.readouterr().out
    flags = set(re.findall(r"^  --(\w+)", out, re.M))
    assert e.value.code == 0 and shown <= flags and not hidden & flags
    assert flags & set(schema()) == set(keys_of(script=script))


def test_resume_rule_is_the_tables(tmp_path, caplog):
    """A resume may change the keys of rule "change" (recorded), not those of rule "keep";
    an old run's args.json (no "model" key) resumes with the script's model recorded."""
    from training.loop import TrainingError, _check_resume_args

    run = tmp_path / "run"
    run.mkdir()
    (run / "args.json").write_text(OLD_RUN_ARGS.read_text())
    base = load_args(OLD_RUN_ARGS)
    for name, value in (("im_h", 112), ("grid_channels", 8), ("rnn", "gru"), ("loss", "ce")):
        assert KEYS[name].resume == "keep"
        with pytest.raises(TrainingError, match=f"--{name} "):
            _check_resume_args(base.replace(**{name: value}, model="dlsm"), run)
    _check_resume_args(base.replace(model="dlsm", niters=7, lr=0.5, loglevel="debug"), run)
    recorded = json.loads((run / "args.json").read_text())
    assert (recorded["model"], recorded["niters"], recorded["lr"]) == ("dlsm", 7, 0.5)
    with pytest.raises(TrainingError, match=r"--model \"vlsm\" \(the run has \"dlsm\"\)"):
        _check_resume_args(base.replace(model="vlsm"), run)


def test_default_args_build_the_release_models():
    """Args' defaults and the model's are the same release model: the D-LSM built from
    defaults alone (sepup and im_skip on, as the release) has the release's 3,890,722
    parameters, and one built from args/args_dlsm.json is the same configuration."""
    from models.lsm import build_model, lsm_config
    from training.tasks import model_config

    defaults = lsm_config(model_config(load_args(None, {})))
    assert defaults == lsm_config(None)
    assert defaults == lsm_config(model_config(load_args(DLSM)))
    assert defaults["sepup"] is True and defaults["im_skip"] is True
    assert build_model("dlsm", defaults).count_params() == 3_890_722


def test_release_keys_that_do_nothing_are_read_from_files_and_refused_on_the_command_line(
        tmp_path):
    path = write(tmp_path, {"run_trace": True, "vis": True, "test_set_file": "x.txt",
                            "niters": 7})
    assert load_args(path).niters == 7
    assert not {"run_trace", "vis", "test_set_file"} & set(load_args(path).to_dict())
    with pytest.raises(ConfigError, match=r"'vis' is a release argument this project does not "
                       r"use \(the test scripts save pictures with --contact_sheet"):
        load_args(None, ["--vis", "true"])


def test_argument_errors_are_one_line_without_a_usage_dump(capsys):
    with pytest.raises(SystemExit) as e:
        parse_cli(["--batchsize", "2"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "usage:" not in err
    assert err.splitlines()[0].endswith("unknown argument 'batchsize'; did you mean "
                                        "'batch_size'?")
