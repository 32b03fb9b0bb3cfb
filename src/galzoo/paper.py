"""The published numbers we compare against: one table, read by the report and the plots."""
from __future__ import annotations

#: Kabani & El-Sakka 2016, sec. 8 (figures 5-9): test MSE with dropout off and no augmentation, and the
#: validation MSE after the first and the last (20th) epoch. Trained on 55,420 real Kaggle images.
SCALE_STUDY = {
    "normalized": {"deterministic_mse": 0.0084, "val_mse_epoch1": 0.0151, "val_mse_epoch20": 0.0095},
    "crop64": {"deterministic_mse": 0.0100, "val_mse_epoch1": 0.0165, "val_mse_epoch20": 0.0115},
    "crop256": {"deterministic_mse": 0.0094, "val_mse_epoch1": 0.0170, "val_mse_epoch20": 0.0103},
}
SCALE_STUDY_SOURCE = "Kabani & El-Sakka 2016, figures 5-9 (61,578 Kaggle images, 20 epochs)"
