"""Analytics: the campaign report, experiment results, surveys and lifecycle."""
