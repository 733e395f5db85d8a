"""Segments: named, reusable audience rules, with estimate, export and explain."""
