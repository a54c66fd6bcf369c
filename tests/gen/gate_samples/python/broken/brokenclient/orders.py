from .models_that_do_not_exist import Order  # deliberately broken

__all__ = ["Order"]
