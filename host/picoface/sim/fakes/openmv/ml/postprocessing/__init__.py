"""Fake OpenMV `ml.postprocessing` package (>= 4.8: vendor submodules such as darknet)."""
