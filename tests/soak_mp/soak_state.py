# Shared state of the soak overrides under real MicroPython (tests/test_soak.py): the fault plan
# and what the fakes saw. A fault every EVERY snapshots from FIRST, kinds cycling through KINDS.
FIRST = 40
EVERY = 20
KINDS = ("camera", "kpu", "memory", "camera", "kpu", "memory", "camera", "kpu", "memory", "restart")
FRAMES = 500
MEM_AT = (100, 480)

snapshots = [0]
feeds = [0]          # feeds since the last snapshot
pending_infer = [None]
pending_restart = [False]


def kind_at(i):
    if i < FIRST or (i - FIRST) % EVERY:
        return None
    return KINDS[((i - FIRST) // EVERY) % len(KINDS)]
