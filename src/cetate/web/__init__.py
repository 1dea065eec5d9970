"""The web face of Cetate: the FastAPI application serving the API and the dashboard."""
