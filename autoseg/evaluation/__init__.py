"""Scoring segmentations: metrics on arrays (metrics), folder summaries (summary), overlay pictures (overlays)."""
