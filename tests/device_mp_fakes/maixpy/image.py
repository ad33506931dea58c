# Minimal MaixPy `image`: an Image that records draw calls.
class Image:
    def __init__(self, path=None, copy_to_fb=False, size=(320, 240)):
        self._w = size[0]
        self._h = size[1]
        self.drawn = []

    def width(self):
        return self._w

    def height(self):
        return self._h

    def draw_rectangle(self, x, y=None, w=None, h=None, color=None, thickness=1, fill=False):
        self.drawn.append(("rect", x, y, w, h))

    def draw_string(self, x, y, text, color=None, scale=1, x_spacing=0, y_spacing=0, mono_space=True):
        self.drawn.append(("text", text))

    def pix_to_ai(self):
        return self
