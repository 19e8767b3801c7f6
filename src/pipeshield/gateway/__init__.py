"""The guarded inference gateway (issue 7) and the controls it enforces.

Only the output policy lives here so far: the attack checks measure what each output control buys
before the gateway that enforces it exists, and both use this one implementation.
"""
