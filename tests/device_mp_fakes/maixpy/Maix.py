# Minimal MaixPy `Maix`: GPIOHS outputs that print LED changes.
class GPIO:
    OUT = 3
    IN = 0

    def __init__(self, gpio_id, mode, pull=0, value=None):
        self.id = gpio_id
        self.v = None

    def value(self, v=None):
        if v is None:
            return self.v
        if v != self.v:
            self.v = v
            print("LED GPIOHS%d=%d" % (self.id, v))


for _i in range(32):
    setattr(GPIO, "GPIOHS%d" % _i, _i)
