"""`glit info` and one-line errors (in process: the exit code and stderr suffice)."""

import json

import pytest

import glitlib as gl


def test_info_arch_json(cli):
    out = cli("info", "--preset", "tiny", "--arch", "glit-tiny", "--json")
    assert out.returncode == 0 and out.stderr == ""
    data = json.loads(out.stdout)
    assert data["params"] == 7_264_456
    assert data["macs"] == 1_472_873_280
    assert data["macs_reference_formula"] == 1_332_470_592


def test_info_space_json_and_table(cli, tmp_path):
    data = json.loads(cli("info", "--preset", "tiny", "--json").stdout)
    assert data["size_paper"] == 324**12
    assert data["size_distinct"] == 198**12 and data["stage1_size"] == 4**12
    space, arch = gl.get_arch("deit-tiny")
    path = tmp_path / "deit.json"
    path.write_text(arch.to_json(space))
    out = cli("info", "--arch", str(path))
    assert out.returncode == 0 and "5,717,416" in out.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--preset", "huge"], "unknown search space 'huge'"),
        (["--arch", "glit-huge"], "neither a named architecture"),
        (["--preset", "digits", "--arch", "glit-tiny"], "has depth 4"),
        (["--arch", "BAD"], "malformed"),
        (["--arch", "G5"], "block 0: g=5"),
    ],
)
def test_bad_input_is_one_line(cli, one_line_error, tmp_path, args, words):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    g5 = tmp_path / "g5.json"
    space, arch = gl.get_arch("glit-tiny")
    doc = json.loads(arch.to_json(space))
    doc["blocks"][0]["g"] = 5
    g5.write_text(json.dumps(doc))
    args = [str(bad) if a == "BAD" else str(g5) if a == "G5" else a for a in args]
    one_line_error(cli("info", *args), words)
