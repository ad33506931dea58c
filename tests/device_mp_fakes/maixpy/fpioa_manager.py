# Minimal `fpioa_manager`.
class _F:
    pass


for _i in range(32):
    setattr(_F, "GPIOHS%d" % _i, 24 + _i)


class _FM:
    fpioa = _F

    def register(self, pin, function, force=True):
        if not 0 <= pin <= 47:
            raise ValueError("pin")


fm = _FM()
