"""LED colours (red, green, blue on/off) per app state, one table for every HAL.

face: a face is present (modes detect, gate); known: the face is an enrolled person; stranger:
a face that matches nobody (mode recognise); enrol: an enrolment is collecting shots; error: a
fault; anything else (idle): off. Red and blue for a stranger, so it is not read as an error.
"""

COLOURS = {"face": (0, 1, 0), "known": (0, 1, 0), "stranger": (1, 0, 1), "enrol": (0, 0, 1),
           "error": (1, 0, 0)}
OFF = (0, 0, 0)


def colour(state):
    return COLOURS.get(state, OFF)
