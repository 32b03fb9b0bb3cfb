"""The crop stage: read each galaxy image, measure its normalized scale, cut the study's three views and
store them as one uint8 array per scale (Kabani & El-Sakka 2016, section 4).

The crop gallery is a figure (``galzoo.plots.crop_gallery``), so the crop stage does not load matplotlib.
"""
from galzoo.preprocess.crops import SCALES, centre_crop, check_scale, crop_all_scales
from galzoo.preprocess.images import read_rgb
from galzoo.preprocess.scale import ScaleResult, find_normalized_side
from galzoo.preprocess.store import build_store, load_index, load_store

__all__ = [
    "SCALES",
    "ScaleResult",
    "build_store",
    "centre_crop",
    "check_scale",
    "crop_all_scales",
    "find_normalized_side",
    "load_index",
    "load_store",
    "read_rgb",
]
