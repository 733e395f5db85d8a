"""Operator passwords (reliability matrix X5): argon2id at OWASP cost, verified safely."""

from __future__ import annotations

import re

from tidings.tenancy.passwords import hash_password, verify_password


def test_hashes_are_argon2id_with_at_least_19_mib_of_memory() -> None:
    stored = hash_password("correct horse battery staple")
    match = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", stored)
    assert match, stored
    memory, time_cost, parallelism = map(int, match.groups())
    assert memory >= 19456
    assert time_cost >= 2
    assert parallelism >= 1


def test_the_same_password_hashes_differently_each_time() -> None:
    assert hash_password("same password here") != hash_password("same password here")


def test_verify_accepts_the_password_and_refuses_anything_else() -> None:
    stored = hash_password("correct horse battery staple")
    assert verify_password(stored, "correct horse battery staple")
    assert not verify_password(stored, "correct horse battery stapl")
    assert not verify_password(stored, "")
    assert not verify_password("not-a-hash", "correct horse battery staple")
