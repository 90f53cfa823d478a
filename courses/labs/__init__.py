"""Labs: steps a learner does in a sandbox copy of their store, checked by the platform.

`sandbox` makes and resets a learner's sandbox tenant; `checks` holds the
registry of checks a lab step names. The package has no models.
"""
