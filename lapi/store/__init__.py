"""PostgreSQL store: schema migrations, day partitions, typed queries, embedded server."""
