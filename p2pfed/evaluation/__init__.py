"""Scoring runs and reporting them: per-node evaluation, baselines (local-only, central), summaries, Markdown reports, figures."""
