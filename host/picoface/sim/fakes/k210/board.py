"""Fake `board` module: board_info pin numbers from the board's facts."""
from picoface.sim.fakes import _k210

board_info = _k210.board_info_class()
