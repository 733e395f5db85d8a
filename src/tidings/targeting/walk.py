"""Walks over a rule tree: the segments it refers to, and its stored (unexpanded) form."""

from __future__ import annotations

from tidings.targeting.rules import And, Not, Or, Rule, Segment


def segment_ids(rule: Rule) -> set[int]:
    """Every segment the rule refers to, through inlined references too."""
    found: set[int] = set()
    stack: list[Rule] = [rule]
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(node.children)
        elif isinstance(node, Not):
            stack.append(node.child)
        elif isinstance(node, Segment):
            found.add(node.segment)
            if node.rule is not None:
                stack.append(node.rule)
    return found


def unexpanded(rule: Rule) -> Rule:
    """The rule with segment references back to bare ids (the form that is stored)."""
    if isinstance(rule, And | Or):
        return rule.model_copy(update={"children": [unexpanded(c) for c in rule.children]})
    if isinstance(rule, Not):
        return rule.model_copy(update={"child": unexpanded(rule.child)})
    if isinstance(rule, Segment):
        return rule.model_copy(update={"rule": None})
    return rule
