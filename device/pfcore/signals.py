"""LED colours (red, green, blue on/off) per app state, one table for every HAL.

face: a face is present (modes detect, gate); known: the face is an enrolled person; stranger:
a face that matches nobody (mode recognise); enrol: an enrolment is collecting shots; error: a
fault; anything else (idle): off. Red and blue for a stranger, so it is not read as an error.

A model of more than one class (model.labels) colours by class: CLASS_COLOURS per label, a label
not in the table the face colour. In modes detect and gate the LED shows the colour of the first
class of CLASS_ORDER that any face in the frame carries (state "class:<label>", class_state()):
red while any face is no_mask, else green while faces are present. Mode recognise keeps its
known / stranger / enrol colours. The LCD draws each face's box in its class colour with its
label (box()).
"""

from pfcore.protocol import has_class, label_of

COLOURS = {"face": (0, 1, 0), "known": (0, 1, 0), "stranger": (1, 0, 1), "enrol": (0, 0, 1),
           "error": (1, 0, 0)}
CLASS_COLOURS = {"mask": (0, 1, 0), "no_mask": (1, 0, 0)}
CLASS_ORDER = ("no_mask", "mask")     # the LED shows the first of these any face carries
CLASS = "class:"                      # state prefix of a class colour
OFF = (0, 0, 0)


def colour(state):
    if state[:len(CLASS)] == CLASS:
        return CLASS_COLOURS.get(state[len(CLASS):], COLOURS["face"])
    return COLOURS.get(state, OFF)


def class_state(faces, labels):
    """LED state of a frame's faces of a multi-class model: "class:<label>" of the first label of
    CLASS_ORDER a face carries, else "face" (no face carries a label of the table)."""
    seen = []
    for f in faces:
        if has_class(f):
            seen.append(label_of(labels, f[5]))
    for name in CLASS_ORDER:
        if name in seen:
            return CLASS + name
    return "face"


def box(face, labels):
    """((r, g, b) 0-255, label or None): how the LCD draws a face's box: its class colour and
    label, or the face colour without a label for a face without a class."""
    c = COLOURS["face"]
    text = None
    if has_class(face):
        text = label_of(labels, face[5])
        c = CLASS_COLOURS.get(text, c)
    return (c[0] * 255, c[1] * 255, c[2] * 255), text
