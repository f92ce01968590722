"""Database: models, the SQLAlchemy configuration, migrations and the embedded server."""
