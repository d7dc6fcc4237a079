"""The cause tests give the moves they make themselves (``core.story``: every move has one)."""

from hyperloop.core.story import Cause

BY_TEST = Cause("test", "seed", "set by the test")
