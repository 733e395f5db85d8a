"""The web SDK as Tidings serves it: the bundle, its service worker, CORS for client routes."""
