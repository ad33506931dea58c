"""Fake OpenMV `ml.postprocessing`: absent on v4.5.6 - v4.5.9 (no postprocessing in
scripts/libraries/ml at v4.5.9); one module, ml/postprocessing.py, on v4.6.0 - v4.7.0 (so
``ml.postprocessing.darknet`` is no module there: ``darknet.py`` raises ImportError); a package of
vendor modules (darknet, ...) from v4.8.0 (scripts/libraries/ml/ml-darknet/ml/postprocessing/)."""
from picoface.sim.fakes import _openmv

_openmv.require("postprocessing")
