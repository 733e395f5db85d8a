"""Audience rules (PURE): the rule model, validation, the Python compiler, explanations.

`sql.py` compiles the same rules to SQL; it is the only module here that imports
sqlalchemy. Everything else takes values and returns values and reads time only from an
argument.
"""

from tidings.targeting.compiler import Predicate, compile_rule
from tidings.targeting.errors import RuleError
from tidings.targeting.parse import parse_rule
from tidings.targeting.rules import Rule
from tidings.targeting.validate import check_rule

__all__ = ["Predicate", "Rule", "RuleError", "check_rule", "compile_rule", "parse_rule"]
