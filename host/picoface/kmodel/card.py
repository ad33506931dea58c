"""The K210 kmodel section of a model card (MODEL_CARD.md), written by ``kmodel convert``."""

from pathlib import Path

CARD_BEGIN = "<!-- kmodel section: written by picoface kmodel convert -->"
CARD_END = "<!-- end of kmodel section -->"


def card_section(v3_model, data, report, out_path, board):
    """The K210 part of a model card (Markdown), from the converted file and its verification."""
    from picoface.kmodel.info import summarize_v3

    info = summarize_v3(v3_model, len(data))
    types = ", ".join("%d %s" % (n, t) for t, n in info["layer_types"].items())
    f = report.get("emulator_vs_float", {})
    s = report.get("emulator_vs_simulator", {})
    name = Path(out_path).name
    return "\n".join([
        CARD_BEGIN,
        "## K210 kmodel v3 (`%s`, what the %s runs)" % (name, board.name),
        "",
        "`model.json` in this folder describes the kmodel: it is the board's artifact (`make flash "
        "BOARD=%s` packs it as a .kfpkg). Made from the float TFLite by `picoface kmodel convert` "
        "(nncase %s PTQ on %d calibration images%s, v5 -> v3 re-pack); `picoface kmodel info %s` lists "
        "its layers." % (board.name, report.get("nncase", {}).get("version", "1.9"), report["calib_images"],
                         (": " + report["calib_source"]) if report.get("calib_source") else "", name),
        "",
        "| item | value |",
        "|---|---|",
        "| bytes | {:,} |".format(len(data)),
        "| layers | %s%s |" % (types, ", every conv on the KPU" if info["all_on_kpu"] else ""),
        "| input -> output | %s -> %s |" % ("x".join(map(str, info["input"] or [])),
                                            "x".join(map(str, info["output"] or []))),
        "| MACs as the KPU computes them | %.1f M |" % (info["macs"] / 1e6),
        "| KPU RAM | {:,} B spanned (peak live {:,} B) of 2 MiB |".format(info["kpu_ram_span_bytes"],
                                                                        info["kpu_ram_peak_bytes"]),
        "| main memory (output buffer) | {:,} B |".format(info["main_memory_bytes"]),
        "| emulator vs nncase Simulator | %.2f LSB max, %.1f %% exact |" % (
            s.get("max_lsb", float("nan")), 100 * s.get("exact_fraction", float("nan"))),
        "| emulator vs float model | cosine %.5f (min over %d images), max error %.3g |" % (
            f.get("cosine_min", float("nan")), report.get("images", 0), f.get("max_abs", float("nan"))),
        "",
        "Details: `verify.md`. AP of the kmodel on the KPU emulator, beside the other detectors: "
        "[../BENCH.md](../BENCH.md). Not verified on silicon: a board may differ by a few LSB "
        "(activation rounding); `pytest -m hw tests/test_kmodel_hw.py --port PORT` compares "
        "a frame on a real board with the emulator.",
        CARD_END,
        ""])


def with_card_section(text, section):
    """Model-card text with its kmodel section replaced (or inserted before '## Accuracy')."""
    if CARD_BEGIN in text and CARD_END in text:
        head, rest = text.split(CARD_BEGIN, 1)
        tail = rest.split(CARD_END, 1)[1].lstrip("\n")
        return head + section + "\n" + tail
    marker = "## Accuracy"
    if marker in text:
        head, tail = text.split(marker, 1)
        return head + section + "\n" + marker + tail
    return text.rstrip("\n") + "\n\n" + section
