"""galzoo: reproducible CNN studies of Galaxy Zoo images."""
import os

# albumentations checks PyPI for a newer release on import; a pipeline stage must not phone home.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
