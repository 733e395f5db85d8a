"""Message content: typed in-app formats, localization with fallback, Liquid rendering."""
