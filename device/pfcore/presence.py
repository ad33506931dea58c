"""Face presence with hysteresis: "enter" after enter_frames frames with faces in a row,
"leave" after leave_frames frames without faces in a row."""


class Presence:
    def __init__(self, enter_frames=2, leave_frames=5):
        self.enter_frames = enter_frames if enter_frames > 1 else 1
        self.leave_frames = leave_frames if leave_frames > 1 else 1
        self.present = False
        self._run = 0

    def update(self, n_faces):
        """Feed one frame's face count; returns "enter", "leave" or None."""
        if (n_faces > 0) == self.present:
            self._run = 0
            return None
        self._run += 1
        if self.present:
            if self._run >= self.leave_frames:
                self.present = False
                self._run = 0
                return "leave"
        elif self._run >= self.enter_frames:
            self.present = True
            self._run = 0
            return "enter"
        return None

    def reset(self):
        self.present = False
        self._run = 0
