"""Dagster orchestration of Insights Warehouse: assets, resources, jobs, schedules, sensors, CLI."""
