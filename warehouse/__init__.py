"""The ground floor: settings and the runtime every layer may use (DuckDB connections,
the writer and run locks, failpoints, HTML escaping). Imports nothing of the project."""
