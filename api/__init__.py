"""eventlake's ingestion service (FastAPI). Build the app with ``api.main.create_app``."""
