"""On a real board (skipped without --port): flash it, then watch it stream.

    .venv/bin/python -m pytest -m hw tests/test_flash_hw.py --port /dev/ttyUSB0 --board maix_dock

Uses the board's shipped model (models/); the K210 step needs kflash and the board in reach
of its ISP reset (the Dock's auto-reset circuit does it).
"""

import pytest

from picoface.cli import main as cli_main


@pytest.mark.hw
def test_flash_then_monitor_real_board(request, tmp_path, capsys):
    port, board = request.config.getoption("--port"), request.config.getoption("--board")
    assert cli_main(["flash", "--board", board, "--port", port, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ok: %s runs app" % board in out
    log = tmp_path / "hw.jsonl"
    assert cli_main(["monitor", "--port", port, "--board", board, "--duration", "10", "--plain",
                     "--log", str(log)]) == 0
    out = capsys.readouterr().out
    assert "frame " in out and " 0 corrupt" in out
