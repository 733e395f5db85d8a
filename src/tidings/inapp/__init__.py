"""In-app decisions (PURE): eligibility, caps, re-eligibility, budget, priority, variants.

Takes values (campaign specs, the user's history, the budget, `now`) and returns values;
never reads the database or the clock.
"""
