"""Several replicas on one PostgreSQL: the database is the only thing they share and coordinate through."""
