"""Every bench figure in README.md, models/BENCH.md and the shipped model cards is rendered from
models/bench.json by `picoface bench --render-only` (picoface.bench.render): a hand edit or a stale
table fails here. No detector runs."""

import json
import re
import shutil

import pytest

from picoface.bench import render, report
from picoface.cli import main
from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT

BENCH = REPO_ROOT / "models" / "bench.json"


@pytest.fixture(scope="module")
def bench():
    return render.load(BENCH)


def table(text, first_col):
    """{first cell: cells} of the Markdown table whose header starts with ``first_col``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| %s |" % first_col))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows[cells[0]] = cells
    return rows


def test_shipped_files_are_what_the_renderer_makes():
    out = render.targets(BENCH, REPO_ROOT)
    # the detectors' cards (a folder with a detector's model.json); the gates' cards have no bench block,
    # the recognition nets' card has the LFW bench's (picoface recog bench)
    cards = sorted(p for p in REPO_ROOT.glob("models/*/MODEL_CARD.md") if (p.parent / "model.json").is_file()
                   and json.loads((p.parent / "model.json").read_text()).get("kind") != "recog")
    assert set(out) == {REPO_ROOT / "models" / "BENCH.md", REPO_ROOT / "README.md"} | set(cards)
    assert len(cards) == 3      # the K210 and OpenMV face detectors, the K210 mask detector
    for path, text in out.items():
        assert path.read_text() == text, "%s is not rendered from models/bench.json: run picoface " \
                                         "bench --render-only" % path
    assert all(not changed for _, changed in render.render(BENCH, REPO_ROOT, check=True))


def test_every_card_has_its_bench_block_before_training(bench):
    for name in render.model_names(bench):
        text = (REPO_ROOT / "models" / name / "MODEL_CARD.md").read_text()
        block = render.block_of(text)
        assert block == render.card_block(bench, name)
        assert text.index(block) < text.index("\n## Training\n")
        assert "## Bench (from models/bench.json)" in block


def test_figures_outside_bench_md_use_its_size_rule(bench):
    """bytes in README and the cards' bench blocks read exactly as in BENCH.md's table (one rule,
    report.fmt_bytes), and every "N B (size)" a card states uses the same rule."""
    bench_md = table((REPO_ROOT / "models" / "BENCH.md").read_text(), "detector")
    readme = table(render.block_of((REPO_ROOT / "README.md").read_text()), "model")
    for name, label, _board, _size in render.README_ROWS:
        assert readme[label][3].split(",")[0] == bench_md[name][9], name
    checked = 0
    for name in render.model_names(bench):
        card = (REPO_ROOT / "models" / name / "MODEL_CARD.md").read_text()
        for f, cells in table(render.block_of(card), "file").items():
            assert cells[1] == bench_md["%s/%s" % (name, f.strip("`"))][9]
            checked += 1
        for n, size in re.findall(r"([\d,]+) B \(([^)]*)\)", card):
            assert size == report.fmt_bytes(int(n.replace(",", ""))), (name, n, size)
            checked += 1
    assert checked >= 12
    # the face-size rule stated beside the figures is bench.json's, as in BENCH.md
    assert bench["info"]["size_rule"] == "min-side"
    assert "faces whose width or height is below 20 px" in (REPO_ROOT / "models" / "BENCH.md").read_text()
    assert "faces whose width and height are >= 20 px" in render.block_of((REPO_ROOT / "README.md").read_text())


def test_bench_json_is_of_the_shipped_files(bench):
    """A retrained model without a new bench run shows here: bench.json's bytes are the files'."""
    rows = [r for r in bench["rows"] if r.get("group") == "picoface"]
    assert len(rows) == 11     # 4 + 3 face-detector artifacts, 4 of the mask detector
    for r in rows:
        assert r["bytes"] == (REPO_ROOT / "models" / r["name"]).stat().st_size, r["name"]


def test_render_is_deterministic_and_ignores_key_order(tmp_path, bench):
    once = render.targets(BENCH, REPO_ROOT)
    assert render.targets(BENCH, REPO_ROOT) == once
    shuffled = tmp_path / "bench.json"
    shuffled.write_text(json.dumps({"rows": [dict(reversed(list(r.items()))) for r in bench["rows"]],
                                    "info": dict(reversed(list(bench["info"].items())))}))
    other = render.targets(shuffled, REPO_ROOT)
    assert list(other) == [tmp_path / "BENCH.md"]           # README and cards only from models/bench.json
    assert other[tmp_path / "BENCH.md"] == once[REPO_ROOT / "models" / "BENCH.md"]


def _copy_repo(tmp_path):
    """README, bench.json and the model folders' small files in a scratch repository root."""
    (tmp_path / "models").mkdir()
    shutil.copy(REPO_ROOT / "README.md", tmp_path / "README.md")
    for f in ("bench.json", "BENCH.md"):
        shutil.copy(REPO_ROOT / "models" / f, tmp_path / "models" / f)
    for card in REPO_ROOT.glob("models/*/MODEL_CARD.md"):
        d = tmp_path / "models" / card.parent.name
        d.mkdir()
        for f in ("MODEL_CARD.md", "model.json", "export.json"):
            if (card.parent / f).is_file():
                shutil.copy(card.parent / f, d / f)
    return tmp_path


def test_a_hand_edit_is_found_and_rendered_away(tmp_path):
    root = _copy_repo(tmp_path)
    readme = root / "README.md"
    card = root / "models" / "picoface_openmv_240x176" / "MODEL_CARD.md"
    good_readme, good_card = readme.read_text(), card.read_text()
    row = next(l for l in good_readme.splitlines() if l.startswith("| `picoface_k210_320x240`"))
    cells = row.split(" | ")
    cells[4] = "0.700 / 0.900"                              # the widerface figures, edited by hand
    readme.write_text(good_readme.replace(row, " | ".join(cells)))
    assert readme.read_text() != good_readme
    bench_row = next(l for l in good_card.splitlines() if l.startswith("| `picoface_int8.tflite` | ") and " / " in l)
    cells = bench_row.split(" | ")
    cells[2] = "0.999 / 0.999"                              # the card's widerface figures, edited by hand
    card.write_text(good_card.replace(bench_row, " | ".join(cells)))
    assert card.read_text() != good_card
    src = root / "models" / "bench.json"
    changed = {p.name for p, c in render.render(src, root, check=True) if c}
    assert changed == {"README.md", "MODEL_CARD.md"}
    assert readme.read_text() != good_readme                 # --check writes nothing
    render.render(src, root)
    assert readme.read_text() == good_readme and card.read_text() == good_card
    assert not any(c for _, c in render.render(src, root, check=True))


def test_card_without_a_block_gets_one_before_training_and_keeps_the_rest(bench):
    card = "# m\n\n## Accuracy\n\nval figures 0.123\n\n## Training\n\n- 45 epochs\n"
    name = "picoface_openmv_240x176"
    out = render.replace_block(card, render.card_block(bench, name), where="## Training")
    assert out.startswith("# m\n\n## Accuracy\n\nval figures 0.123\n\n" + render.BEGIN)
    assert out.endswith(render.END + "\n\n## Training\n\n- 45 epochs\n")
    assert render.replace_block(out, render.card_block(bench, name), where="## Training") == out
    with pytest.raises(PicofaceError, match="no <!-- bench:begin"):
        render.replace_block("# README without markers\n", "x")
    with pytest.raises(PicofaceError, match="no <!-- bench:end -->"):
        render.replace_block("a\n<!-- bench:begin -->\nb\n", "x")


def test_a_card_written_again_keeps_its_bench_block(tmp_path, bench):
    """export.card.write_card (a training run's export) rewrites the card and keeps the bench block."""
    from picoface.bench.render import block_of
    from picoface.export import card as card_mod

    block = render.card_block(bench, "picoface_openmv_240x176")
    (tmp_path / "MODEL_CARD.md").write_text("# old\n\n" + block + "\n\n## Training\n\nstale text\n")

    class Run:
        history, throughput, best_ap, best_epoch, epochs_done, stopped, seconds = [], {}, 0.5, 1, 1, "epochs", 60.0

    from picoface.train.config import load_config

    cfg = load_config(REPO_ROOT / "models" / "picoface_openmv_240x176" / "train.yaml")
    card_mod.write_card(cfg, Run(), {"files": {"tflite-int8": {"file": "picoface_int8.tflite", "bytes": 2 ** 20}}},
                        tmp_path)
    text = (tmp_path / "MODEL_CARD.md").read_text()
    assert block_of(text) == block and text.index(block) < text.index("\n## Training\n")
    assert "1 epochs run" in text and "stale text" not in text and "# old" not in text
    assert "1,048,576 B (1.00 MB)" in text                   # the card's own sizes: BENCH.md's rule


BAD = {
    "not JSON": ("{rows: [", "not JSON"),
    "no info": (json.dumps({"rows": [{"name": "a", "status": "ok"}]}), "\"info\""),
    "rows not a list": (json.dumps({"info": {}, "rows": {}}), "\"rows\""),
}


def _bad_bench(bench, what):
    d = json.loads(json.dumps(bench))
    if what == "row without a name":
        del d["rows"][0]["name"]
    elif what == "a string AP":
        d["rows"][1]["ap50"] = "0.77"
    elif what == "an unknown size rule":
        d["info"]["size_rule"] = "area"
    elif what == "no rows":
        d["rows"] = []
    return json.dumps(d)


@pytest.mark.parametrize("what", list(BAD) + ["row without a name", "a string AP", "an unknown size rule", "no rows"])
def test_a_malformed_bench_json_is_one_clear_line(tmp_path, capsys, bench, what):
    p = tmp_path / "bench.json"
    text, words = BAD[what] if what in BAD else (_bad_bench(bench, what), {
        "row without a name": "rows[0].name", "a string AP": "rows[1].ap50", "an unknown size rule": "size_rule",
        "no rows": "no rows"}[what])
    p.write_text(text)
    assert main(["bench", "--render-only", "--from", str(p)]) == 1
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("picoface: ") and " — " in lines[0], out.err
    assert "is not a bench result" in lines[0] and words in lines[0]
    assert not (tmp_path / "BENCH.md").exists()


def test_render_only_cli_check_and_missing_file(tmp_path, capsys):
    assert main(["bench", "--render-only", "--check"]) == 0
    out = capsys.readouterr().out
    assert "unchanged README.md" in out and "unchanged models/BENCH.md" in out
    assert main(["bench", "--render-only", "--from", str(tmp_path / "nope.json")]) == 1
    assert "bench result %s not found" % (tmp_path / "nope.json") in capsys.readouterr().err
    assert main(["bench", "--check"]) == 1
    assert "--render-only" in capsys.readouterr().err


def test_bench_json_names_no_absolute_path():
    """The rendered files must not depend on where the clone lives (CI checks out elsewhere): every
    path the bench records is as a reader of the repository writes it (``../shared/...`` or
    repository-relative)."""
    found = []

    def walk(v, where):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, where + "." + str(k))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, "%s[%d]" % (where, i))
        elif isinstance(v, str) and (v.startswith("/") or v.startswith("~")):
            found.append("%s=%s" % (where, v))

    walk(json.loads(BENCH.read_text()), "bench")
    assert not found


def test_bench_records_display_paths(tmp_path):
    from picoface.paths import display_path, shared_dir

    assert display_path(shared_dir() / "data" / "widerface_val") == "../shared/data/widerface_val"
    assert display_path(REPO_ROOT / "models" / "x.kmodel") == "models/x.kmodel"
