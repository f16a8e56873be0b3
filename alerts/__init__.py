"""Alerts: threshold, change and anomaly rules from the settings (``alerts:``, typed in
:mod:`warehouse.settings`), evaluated on the latest date of the marts and ``ml`` tables,
written to ``ops.alerts`` and sent to sinks (a JSON-lines file, a webhook). See
docs/alerts_and_analyses.md."""

from alerts.rules import Alert, RuleOutcome, evaluate_rules

__all__ = ["Alert", "RuleOutcome", "evaluate_rules"]
