"""Training: runtime selection, augmentation, datasets over the array store, and the loop."""
