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

#: Dai & Tong 2018 on 2,879 real test galaxies. Table 7: the maximum over 10 runs (and over the single test
#: scales) of accuracy (%), macro precision, recall, F1 and AUC. Table 6: mean over 10 runs of the maximum
#: accuracy (%). Keyed by our registry names.
CNN_COMPARISON = {
    "dieleman": {"max_accuracy": 94.6528, "precision": 0.9455, "recall": 0.9465, "f1": 0.9456, "auc": 0.9793,
                 "mean_accuracy": 93.88},
    "alexnet": {"max_accuracy": 92.2569, "precision": 0.9207, "recall": 0.9226, "f1": 0.9215, "auc": 0.9809,
                "mean_accuracy": 91.82},
    "vgg16": {"max_accuracy": 93.6458, "precision": 0.9348, "recall": 0.9365, "f1": 0.9353, "auc": 0.9846,
              "mean_accuracy": 93.13},
    "inception_v3": {"max_accuracy": 94.5139, "precision": 0.9447, "recall": 0.9451, "f1": 0.9448, "auc": 0.9852,
                     "mean_accuracy": 94.20},
    "preact_resnet50": {"max_accuracy": 94.6875, "precision": 0.9458, "recall": 0.9469, "f1": 0.9461,
                        "auc": 0.9823, "mean_accuracy": 94.10},
    "dai_resnet26": {"max_accuracy": 95.2083, "precision": 0.9512, "recall": 0.9521, "f1": 0.9515, "auc": 0.9823,
                     "mean_accuracy": 94.69},
}
CNN_COMPARISON_SOURCE = "Dai & Tong 2018, tables 6 and 7 (28,790 Galaxy Zoo 2 galaxies, 72k iterations, 10 runs)"

#: Study 3: EfficientNet-B0 RMSE over the 37 answers, validation and Kaggle private test (Kalvankar et al. 2020,
#: as replicated by Nunez Beltran & Reyes; Kalvankar's own table gives B0 0.08099 on the test set).
EFFICIENTNET = {
    "efficientnet_b0": {"val_rmse": 0.0814, "test_rmse": 0.0810},
}
EFFICIENTNET_SOURCE = ("Kalvankar et al. 2020 as replicated by Nunez Beltran & Reyes (61,578 Kaggle images, "
                       "ImageNet weights, 30 + 40 epochs)")

#: Study 4: Pruitt 2024, tables 2 and 3 (ResNet-50 from scratch, 200 epochs): the train/test split's test part
#: (1,840 rotated images) and the independent set of 335 spectroscopic objects within 90'.
PERSEUS = {"test_accuracy": 0.92, "test_macro_f1": 0.92, "test_member_f1": 0.92,
           "independent_accuracy": 0.92, "independent_member_f1": 0.84, "independent_macro_f1": 0.89}
PERSEUS_SOURCE = ("Pruitt 2024, tables 2 and 3 (463 objects; its 1,840 test images are 115 objects x 16 angles; "
                  "ResNet-50, 200x200 px, 200 epochs)")
