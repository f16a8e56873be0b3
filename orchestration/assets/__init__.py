"""Dagster assets: landing files, raw tables, dbt models."""
