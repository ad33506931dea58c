"""Fake `fpioa_manager` (PLATFORM.md A1): fm.register(pin, fm.fpioa.FUNC[, force=True])."""
from picoface.sim.fakes import _k210

fm = _k210.FpioaManager()
_k210.W().fm = fm
