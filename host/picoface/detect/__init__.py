"""Host twins of the device core's per-frame maths (numpy), used by evaluation and the sim.

picoface.detect.region: decode / to_camera / nms / postprocess, equal to pfcore's.
picoface.detect.fit: fit_image(rgb, Fit) makes the net input exactly as pfcore.geom says.
picoface.detect.sizes: device code size (.py and mpy-cross 1.11 .mpy bytes).
"""
