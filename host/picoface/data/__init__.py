"""Face datasets: readers for every supported annotation format and the shared Sample record.

See docs/ARCHITECTURE.md section 8. Heavy imports (cv2) happen only when images are read.
"""

from picoface.data.images import image_size, read_image
from picoface.data.loader import (SIZE_RULES, Mixture, apply_min_size, data_root, detect_format, load_dataset,
                                  load_mixture, parse_mixture, widerface_eval_set)
from picoface.data.problems import Problem
from picoface.data.sample import Sample, face_size, move_to_ignore

__all__ = ["Sample", "Problem", "Mixture", "load_dataset", "load_mixture", "parse_mixture",
           "read_image", "image_size", "widerface_eval_set", "apply_min_size", "face_size",
           "move_to_ignore", "detect_format", "data_root", "SIZE_RULES"]
