# Minimal `machine`: WDT that counts feeds.
class WDT:
    feeds = [0]

    def __init__(self, id=0, timeout=5000, callback=None, context=None):
        pass

    def feed(self):
        WDT.feeds[0] += 1
