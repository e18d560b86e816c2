"""Everything that speaks SQL: engine and pool, tables, batch queries, loaders."""
