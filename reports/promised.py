"""The report sections of issue 25 (reports/satisfaction.py, reports/business.py,
reports/monitoring.py), added to a gathered report before its data-quality and
freshness sections. A module of its own so that reports/content.py, which those sections
import, does not import them back."""

from __future__ import annotations

import duckdb

from reports import business, monitoring, satisfaction
from reports.content import ReportData, Section

#: the closing sections the new ones go before
CLOSING = ("data_quality", "freshness")


def promised_sections(con: duckdb.DuckDBPyConnection, data: ReportData) -> list[Section]:
    period, creator, name = data.period, data.creator_id, data.creator_name
    return [monitoring.failure_reasons_section(con, period, creator, name),
            satisfaction.lesson_quality_section(con, period, creator, name),
            satisfaction.agent_versions_section(con, period, creator, name),
            satisfaction.intent_satisfaction_section(con, period, creator),
            satisfaction.engagement_score_section(con, creator),
            business.business_section(con, creator),
            monitoring.model_drift_section(con, data.kind, creator)]


def with_promised_sections(con: duckdb.DuckDBPyConnection, data: ReportData) -> ReportData:
    """``data`` with the issue 25 sections inserted before the closing sections."""
    at = next((i for i, s in enumerate(data.sections) if s.name in CLOSING),
              len(data.sections))
    data.sections[at:at] = promised_sections(con, data)
    return data
