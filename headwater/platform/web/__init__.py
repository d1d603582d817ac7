"""The dashboard at `/`: served models, jobs, requests and footprint charts, for a browser."""
