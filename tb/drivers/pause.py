"""Pause patterns for stream drivers: picklable descriptions of pause generators.

A pause generator (cocotbext-axi's ``set_pause_generator`` idea) is an iterator of bools, one
per clock cycle: ``True`` holds that end of the stream back in that cycle (a source withholds
its next beat, a sink holds ``ready`` low). The patterns here describe such generators as
plain data, so a host-side test can hand them to a simulator process inside a pickled job;
:meth:`PausePattern.generator` turns one into the iterator the driver consumes.

Every pattern also states the long-run fraction of paused cycles and the cycles of one-off
pauses, which testbenches use to size their timeouts.
"""

import itertools
from dataclasses import dataclass


class PausePattern:
    """Base of the pause patterns.

    Members
    -------
    fraction : float
        Long-run fraction of paused cycles, below 1.
    one_off_cycles : int
        Paused cycles that do not repeat (bursts at fixed points).
    """

    fraction = 0.0
    one_off_cycles = 0

    def generator(self, rng):
        """An endless iterator of bools, one per cycle from the cycle it is installed.

        Parameters
        ----------
        rng : random.Random
            Source of randomness for random patterns (deterministic ones ignore it).
        """
        raise NotImplementedError


@dataclass(frozen=True)
class NoPause(PausePattern):
    """Never pause."""

    def generator(self, rng):
        return itertools.repeat(False)


@dataclass(frozen=True)
class RandomPause(PausePattern):
    """Pause each cycle independently with ``probability``.

    Parameters
    ----------
    probability : float
        Between 0 (never) and 1 (exclusive).
    """

    probability: float

    def __post_init__(self):
        if not 0 <= self.probability < 1:
            raise ValueError(f"probability must be in [0, 1), got {self.probability!r}")

    @property
    def fraction(self):
        return self.probability

    def generator(self, rng):
        p = self.probability
        if p == 0:
            return itertools.repeat(False)
        return (rng.random() < p for _ in itertools.count())


@dataclass(frozen=True)
class BurstPause(PausePattern):
    """Pause for ``length`` cycles from cycle ``start``, then every ``period`` cycles again.

    Parameters
    ----------
    start : int
        First paused cycle, counted from the cycle the generator is installed (0).
    length : int
        Paused cycles per burst, at least 1.
    period : int or None
        Cycles from one burst's start to the next's, greater than ``length``; ``None`` for a
        single burst.
    """

    start: int
    length: int
    period: int | None = None

    def __post_init__(self):
        if not isinstance(self.start, int) or self.start < 0:
            raise ValueError(f"start must be a non-negative integer, got {self.start!r}")
        if not isinstance(self.length, int) or self.length < 1:
            raise ValueError(f"length must be a positive integer, got {self.length!r}")
        if self.period is not None and (
            not isinstance(self.period, int) or self.period <= self.length
        ):
            raise ValueError(
                f"period must be an integer greater than length={self.length}, got {self.period!r}"
            )

    @property
    def fraction(self):
        return 0.0 if self.period is None else self.length / self.period

    @property
    def one_off_cycles(self):
        return self.length if self.period is None else 0

    def generator(self, rng):
        def cycles():
            yield from itertools.repeat(False, self.start)
            while True:
                yield from itertools.repeat(True, self.length)
                if self.period is None:
                    yield from itertools.repeat(False)
                yield from itertools.repeat(False, self.period - self.length)

        return cycles()


@dataclass(frozen=True)
class CyclicPause(PausePattern):
    """Repeat a fixed sequence of pause bits, e.g. ``(True, True, False)``.

    Parameters
    ----------
    pattern : tuple of bool
        One period; at least one ``False`` so the stream makes progress.
    """

    pattern: tuple

    def __post_init__(self):
        if not self.pattern or all(self.pattern):
            raise ValueError(
                f"pattern must hold at least one False (an unpaused cycle), got {self.pattern!r}"
            )
        object.__setattr__(self, "pattern", tuple(bool(x) for x in self.pattern))

    @property
    def fraction(self):
        return sum(self.pattern) / len(self.pattern)

    def generator(self, rng):
        return itertools.cycle(self.pattern)


def as_pattern(value):
    """A :class:`PausePattern` from a pattern, a probability (float) or ``None`` (no pause)."""
    if value is None:
        return NoPause()
    if isinstance(value, PausePattern):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return RandomPause(float(value)) if value else NoPause()
    raise TypeError(f"pause must be a PausePattern, a probability or None, got {value!r}")
