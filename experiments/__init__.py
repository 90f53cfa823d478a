"""A/B experiments on recommendation models.

assignment.py  which variant a shopper sees: a stable hash, traffic share, weights
stats.py       the analysis: lifts with intervals, SRM, CUPED, Holm, always-valid
               intervals, and how many shoppers an experiment needs

Both are plain Python, no Django: the serving path and offline analysis call them.
"""
