"""Which identities name an existing user outright (users.identity.match_known)."""

from __future__ import annotations

from tidings.users.identity import Identity, Resolved, match_known


def test_known_ids_resolve_and_everything_else_is_left_for_the_careful_path() -> None:
    by_external = {"ada": 1, "bob": 2}
    by_anonymous = {"a-ada": (1, "ada"), "a-new": (3, None), "a-bob-device": (2, "bob")}
    wanted = [
        Identity("ada", None),  # known external id
        Identity(None, "a-new"),  # known anonymous user
        Identity(None, "a-ada"),  # anonymous id of a known user: that user
        Identity("ada", "a-ada"),  # both, same user
        Identity("ada", "a-bob-device"),  # both, different users: a merge question
        Identity("carol", None),  # new user
        Identity("ada", "a-unseen"),  # new alias for ada: a claim
        Identity(None, "a-unseen"),  # new anonymous user
    ]
    assert match_known(wanted, by_external, by_anonymous) == {
        Identity("ada", None): Resolved(1, "ada"),
        Identity(None, "a-new"): Resolved(3, None),
        Identity(None, "a-ada"): Resolved(1, "ada"),
        Identity("ada", "a-ada"): Resolved(1, "ada"),
    }
