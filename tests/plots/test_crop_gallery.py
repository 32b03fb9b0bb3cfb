"""The scale study's crop gallery: each image with its three crop squares, then the three views."""
from PIL import Image

from galzoo.preprocess import SCALES


def test_gallery_plots_synthetic_images(raw_dataset, tmp_path):
    from galzoo.plots.crop_gallery import GALLERY_DPI, PANEL_INCHES, plot_scale_gallery

    images = sorted((raw_dataset / "images").glob("*.jpg"))
    out = plot_scale_gallery(images, tmp_path / "plots" / "gallery.png", n=3)
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.width == (1 + len(SCALES)) * PANEL_INCHES * GALLERY_DPI  # original + one panel per view
        assert image.height >= 3 * PANEL_INCHES * GALLERY_DPI  # one row per galaxy
