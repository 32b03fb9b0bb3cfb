"""Paper networks behind one registry: use :func:`create_model` and :func:`list_models`."""
from galzoo.models.registry import check_model_name, create_model, list_models

__all__ = ["check_model_name", "create_model", "list_models"]
