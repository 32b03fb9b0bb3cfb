"""Scoring trained models: predictions, regression metrics per question."""
