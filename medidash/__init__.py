"""MediDash: an open pipeline and dashboard for public Medicare provider data."""

__version__ = "0.1.0"
