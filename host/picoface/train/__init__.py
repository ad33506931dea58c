"""Training: experiment configs, the KPU-friendly detector family, input pipeline, loss, loop.

Import the submodules you need (``picoface.train.config`` is light; ``model``, ``loss`` and
``trainer`` import TensorFlow lazily inside their functions).
"""
