"""The pure domain of stellars-hub: values, policies, rules and domain services.

Everything here depends on the standard library only (and on `stellars.ports` for the
type hints of domain services). Time is always a parameter: nothing here reads a clock.
"""
