"""The report: record schema, canonical serialisation, integrity, writers and verification."""
