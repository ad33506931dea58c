# Minimal MaixPy `lcd`: counts displays.
BLACK = 0
WHITE = 0xFFFF
RED = 0xF800
shown = [0]


def init(type=1, freq=15000000, color=0, invert=0, lcd_type=0):
    pass


def display(img, roi=None, oft=None):
    shown[0] += 1


def clear(color=0):
    pass


def draw_string(x, y, str, color=0xFFFF, bg_color=0):
    pass
