"""`zspace explore`: an interactive latent-space explorer for one run, in the browser."""

from zspace.tasks.explore.app import create_app, serve_explorer

__all__ = ["create_app", "serve_explorer"]
