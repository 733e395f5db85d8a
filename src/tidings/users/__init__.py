"""Users of an app: identity (external and anonymous ids), typed attributes, consent."""
