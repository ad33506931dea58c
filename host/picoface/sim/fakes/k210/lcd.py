"""Fake MaixPy/CanMV `lcd` module (PLATFORM.md A1): 320x240 ST7789 on the Dock."""
from picoface.sim.fakes import _k210

_L = _k210.Lcd()
BLACK, WHITE, RED, GREEN, BLUE = _k210.Lcd.BLACK, _k210.Lcd.WHITE, _k210.Lcd.RED, _k210.Lcd.GREEN, _k210.Lcd.BLUE
init = _L.init
rotation = _L.rotation
display = _L.display
clear = _L.clear
draw_string = _L.draw_string
width = _L.width
height = _L.height
