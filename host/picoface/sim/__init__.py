"""Simulated boards: fake firmware modules + a World, running the unchanged device/main.py.

``picoface.sim.runner.run_app`` is the entry point; ``picoface.sim.world.World`` is what the
fake firmware modules (``picoface/sim/fakes/<family>/``) talk to; ``picoface.sim.runners``
holds the model runners that stand in for the KPU / TFLite-Micro.
"""
