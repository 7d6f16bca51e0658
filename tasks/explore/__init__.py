"""`zspace explore`: an interactive latent-space explorer for one run, in the browser."""

from zspace.tasks.explore.app import create_app, serve_explorer
from zspace.tasks.explore.params import ExploreParams

__all__ = ["ExploreParams", "create_app", "serve_explorer"]
