"""kflash .kfpkg packages: contents, kflash's own flash-list parsing, overlap refusals, `kmodel pack`."""

import argparse
import ast
import json
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from picoface import boards
from picoface.errors import PicofaceError
from picoface.kmodel import kfpkg, pack
from tiny_model import synthetic_v3


@pytest.fixture(scope="module")
def dock():
    return boards.load_board("maix_dock")


def kflash_address_regex():
    """The (pattern, replacement) kflash applies to flash-list.json, read from the installed kflash.py."""
    import importlib.util

    spec = importlib.util.find_spec("kflash")
    if spec is None or not spec.origin:
        pytest.skip("kflash is not installed")
    tree = ast.parse(Path(spec.origin).read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "sub"
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
                and '"address"' in str(node.args[0].value)):
            return node.args[0].value, node.args[1].value
    pytest.fail("kflash.py no longer rewrites flash-list.json addresses with re.sub; re-check kfpkg.py")


def kflash_parse(text):
    """flash-list.json parsed the way kflash 1.1.6 does it (regex, json.loads, int(addr, 0))."""
    pattern, repl = kflash_address_regex()
    doc = json.loads(re.sub(pattern, repl, text))
    return [(int(f["address"], 0), f["bin"], f["sha256Prefix"]) for f in doc["files"]]


def test_model_only_package(tmp_path, dock):
    model = synthetic_v3().serialize()
    out = tmp_path / "m.kfpkg"
    info = kfpkg.build(out, model, dock)
    assert info["files"] == [{"address": 0x300000, "bin": "picoface.kmodel", "sha256Prefix": False,
                              "bytes": len(model)}]
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["flash-list.json", "picoface.kmodel"]
        text = zf.read("flash-list.json").decode()
        assert zf.read("picoface.kmodel") == model
    assert '"address": 0x00300000,' in text
    assert kflash_parse(text) == [(0x300000, "picoface.kmodel", False)]
    back = kfpkg.read(out)
    assert back["files"][0]["data"] == model and back["files"][0]["address"] == 0x300000
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temp file


def test_firmware_and_model_package_parsed_by_kflash_rules(tmp_path, dock):
    model = synthetic_v3().serialize()
    fw = bytes(range(256)) * 4096  # 1 MiB "firmware"
    out = tmp_path / "fw_and_model.kfpkg"
    kfpkg.build(out, model, dock, firmware=fw)
    text = kfpkg.read(out)["flash_list"]
    assert kflash_parse(text) == [(0, "firmware.bin", True), (0x300000, "picoface.kmodel", False)]
    # our reader uses the same regex as the installed kflash
    assert kfpkg.KFLASH_ADDRESS_RE == kflash_address_regex()
    files = kfpkg.read(out)["files"]
    assert files[0]["data"] == fw and files[1]["data"] == model


def test_one_line_json_would_break_kflash():
    """Why kfpkg writes one key per line: kflash's greedy regex eats the rest of the line."""
    one_line = '{"version": "0.1.0", "files": [{"address": 0x300000, "bin": "m.kmodel", "sha256Prefix": false}]}'
    with pytest.raises(ValueError):
        kflash_parse(one_line)
    assert kflash_parse(kfpkg.flash_list_text([(0x300000, "m.kmodel", False)])) == [(0x300000, "m.kmodel", False)]


def test_firmware_overlapping_the_model_is_refused(tmp_path, dock):
    model = synthetic_v3().serialize()
    limit = 0x300000 - kfpkg.SHA256_PREFIX_BYTES   # kflash adds 37 bytes around firmware
    kfpkg.build(tmp_path / "ok.kfpkg", model, dock, firmware=b"\0" * limit)
    out = tmp_path / "bad.kfpkg"
    with pytest.raises(PicofaceError, match="overlap the model at 0x300000"):
        kfpkg.build(out, model, dock, firmware=b"\0" * (limit + 1))
    assert not out.exists()
    small = replace(dock, memory=dict(dock.memory, firmware_max_bytes=0x100000))
    with pytest.raises(PicofaceError, match="overlap"):
        kfpkg.build(out, model, small, firmware=b"\0" * 0x180000)


def test_refuses_boards_without_a_flash_address(tmp_path, dock):
    with pytest.raises(PicofaceError, match="not a K210"):
        kfpkg.build(tmp_path / "x.kfpkg", b"abc", "openmv_h7")
    on_sd = replace(dock, model=dict(dock.model, placement="file", flash_address=None))
    on_sd.model.pop("flash_address")
    with pytest.raises(PicofaceError, match="file, not at a flash address"):
        kfpkg.build(tmp_path / "x.kfpkg", b"abc", on_sd)
    with pytest.raises(PicofaceError, match="empty"):
        kfpkg.build(tmp_path / "x.kfpkg", b"", dock)


def test_read_rejects_broken_packages(tmp_path):
    p = tmp_path / "x.kfpkg"
    p.write_bytes(b"not a zip")
    with pytest.raises(PicofaceError, match="not a zip"):
        kfpkg.read(p)
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("flash-list.json", kfpkg.flash_list_text([(0x300000, "missing.kmodel", False)]))
    with pytest.raises(PicofaceError, match="does not contain"):
        kfpkg.read(p)


def _pack(argv):
    p = argparse.ArgumentParser()
    pack.add_arguments_pack(p)
    return pack.run_pack(p.parse_args(argv))


def test_pack_command_checks_the_model(tmp_path, capsys):
    good = tmp_path / "good.kmodel"
    good.write_bytes(synthetic_v3().serialize())
    assert _pack([str(good), "--board", "maix_dock", "-o", str(tmp_path / "good.kfpkg")]) == 0
    assert "0x00300000" in capsys.readouterr().out
    assert kfpkg.read(tmp_path / "good.kfpkg")["files"][0]["data"] == good.read_bytes()
    wrong = tmp_path / "wrong.kmodel"
    wrong.write_bytes(synthetic_v3(w=256, h=192).serialize())
    with pytest.raises(PicofaceError, match="model input is 256x192"):
        _pack([str(wrong), "--board", "maix_dock", "-o", str(tmp_path / "wrong.kfpkg")])
    assert not (tmp_path / "wrong.kfpkg").exists()


def test_pack_no_check_still_checks_the_format(tmp_path):
    """--no-check skips the budgets and firmware limits, never the kmodel v3 format: a file cut short
    and a file of zeros are refused and nothing is written."""
    whole = synthetic_v3(w=256, h=192).serialize()   # over the Dock's budget: only --no-check packs it
    ok = tmp_path / "ok.kmodel"
    ok.write_bytes(whole)
    assert _pack([str(ok), "--no-check", "-o", str(tmp_path / "ok.kfpkg")]) == 0
    cut = tmp_path / "cut.kmodel"
    cut.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(PicofaceError, match="kmodel truncated: .* the file has %d bytes" % (len(whole) // 2)):
        _pack([str(cut), "--no-check", "-o", str(tmp_path / "cut.kfpkg")])
    zeros = tmp_path / "zeros.kmodel"
    with open(zeros, "wb") as f:
        f.truncate(64 << 20)   # 64 MiB of zeros (sparse)
    with pytest.raises(PicofaceError, match="not a kmodel"):
        _pack([str(zeros), "--no-check", "-o", str(tmp_path / "zeros.kfpkg")])
    assert not (tmp_path / "cut.kfpkg").exists() and not (tmp_path / "zeros.kfpkg").exists()


def test_a_file_that_is_no_kmodel_is_refused_from_its_header(tmp_path):
    """`kmodel info` (and every reader) looks at the first bytes before reading the rest: 256 MiB that
    start with no kmodel header cost no memory."""
    import tracemalloc

    from picoface import cli

    big = tmp_path / "big.kmodel"
    with open(big, "wb") as f:
        f.write(b"MZ\x90\x00" + b"\0" * 12)   # not a kmodel (a Windows executable's header)
        f.truncate(256 << 20)
    tracemalloc.start()
    try:
        assert cli.main(["kmodel", "info", str(big)]) == 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, "read %d MB before refusing the file" % (peak >> 20)
