"""Every figure of the project, written as PNG, one module per kind of figure.

- :mod:`galzoo.plots.curves`: the vote-fraction regression (scale study, EfficientNet votes): loss per epoch
  and scale (``plot_loss_per_scale``), test MSE per scale beside the paper (``plot_scale_comparison``),
  predicted against true vote fraction (``plot_predicted_vs_true``).
- :mod:`galzoo.plots.classification`: a classifier's answers (CNN comparison, Perseus membership): confusion
  matrix (``plot_confusion``), ROC per class (``plot_roc``), colour-magnitude diagram
  (``plot_colour_magnitude``).
- :mod:`galzoo.plots.network`: what a network learned: first-layer filters (``plot_filters``) and feature maps
  (``plot_feature_maps``).
- :mod:`galzoo.plots.gallery`: ``galzoo gallery``, the galaxies rated highest per answer
  (``plot_prediction_gallery``), and reading the ``galzoo predict`` CSV it draws from.
- :mod:`galzoo.plots.crop_gallery`: the scale study's three crops drawn on each image
  (``plot_scale_gallery``).
- :mod:`galzoo.plots.common`: what they share: ``save_figure`` (the one way a figure is written) and ``DPI``.

The first three draw with pyplot on the Agg backend; the galleries build a plain ``matplotlib.figure.Figure``
and never touch pyplot's global state. Nothing is imported here, so importing one module loads only what that
module needs (the prediction gallery loads torch through :mod:`galzoo.predict`; the others do not).
"""
