"""The warehouse: MediDash's PostgreSQL (embedded or external), its roles and its schemas."""

from medidash.warehouse.embedded import (
    EmbeddedServer,
    Warehouse,
    database_url,
    resolve_database_url,
)

__all__ = ["EmbeddedServer", "Warehouse", "database_url", "resolve_database_url"]
