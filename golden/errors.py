"""The errors systolix raises for bad input, and the scalar checks that raise them.

A caller's mistake (a parameter outside its range, an unknown choice, an operand of the wrong
shape or type) raises a :class:`UsageError`; anything else that escapes is a fault in systolix
itself. The ``systolix`` command prints a usage error as one line and exits with status 2, and
lets every other exception through with its traceback, so a bug never passes for bad input.
Each concrete type also derives from ``ValueError`` or ``TypeError``, so callers that catch
those keep working.

Free of NumPy like :mod:`golden.formats`: the generator (``hdl``) imports it.
"""

import numbers
import sys


class UsageError(Exception):
    """Bad input from a user of systolix; the message names the input and what it must be.

    Parameters
    ----------
    message : str
        One line, e.g. ``rows must be between 1 and 128, got 0``.
    parameter : str or None
        Name of the parameter at fault when the message starts with it (``rows``), so that a
        front end can say it in its own spelling (``--rows``).
    """

    def __init__(self, message, *, parameter=None):
        super().__init__(message)
        self.parameter = parameter


class UsageValueError(UsageError, ValueError):
    """A value out of its range or not among the allowed choices."""


class UsageTypeError(UsageError, TypeError):
    """A value of the wrong type: a float or bool where an integer is wanted, a string for a
    flag."""


def check_int(name, value, lo, hi, *, where=""):
    """``value`` as a plain ``int`` if it is an integer between ``lo`` and ``hi`` inclusive.

    Python and NumPy integers are accepted (and converted, so that the result hashes, compares
    and serializes like an ``int``); ``bool`` is refused although Python counts it as an
    integer, as ``True`` where a count belongs is a mistake.

    Parameters
    ----------
    name : str
        Parameter name that starts the error message.
    value : object
    lo, hi : int
        Inclusive range.
    where : str
        Qualifies the range in the message, e.g. ``" for mac=int8 max_k=4096"``.

    Returns
    -------
    int

    Raises
    ------
    UsageTypeError
        If ``value`` is not an integer.
    UsageValueError
        If it is outside ``[lo, hi]``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageTypeError(
            f"{name} must be an integer between {lo} and {hi}{where}, got {value!r}",
            parameter=name,
        )
    value = int(value)
    if not lo <= value <= hi:
        raise UsageValueError(
            f"{name} must be between {lo} and {hi}{where}, got {value}", parameter=name
        )
    return value


def check_bool(name, value):
    """``value`` as a plain ``bool`` if it is ``True`` or ``False`` (NumPy's too).

    Raises
    ------
    UsageTypeError
        For anything else, such as the string ``"no"`` (which ``bool()`` would take as true) or
        the integer 1.
    """
    numpy = sys.modules.get("numpy")  # a NumPy bool exists only once NumPy is loaded
    if isinstance(value, bool) or (numpy is not None and isinstance(value, numpy.bool_)):
        return bool(value)
    raise UsageTypeError(f"{name} must be True or False, got {value!r}", parameter=name)


def check_choice(name, value, choices):
    """``value`` if it is one of ``choices``.

    Raises
    ------
    UsageValueError
        Naming the parameter and every allowed choice.
    """
    # bool is refused even where 0 and 1 are choices: True is not a bus width.
    if isinstance(value, bool) or not isinstance(value, str | numbers.Integral):
        allowed = False
    else:
        allowed = value in choices
    if not allowed:
        listed = ", ".join(str(choice) for choice in choices)
        raise UsageValueError(f"{name} must be one of {listed}, got {value!r}", parameter=name)
    return value


def check_instance(name, value, cls):
    """``value`` if it is a ``cls`` (a configuration object, say).

    Raises
    ------
    UsageTypeError
        Naming the parameter and the class, e.g. ``array_config must be an ArrayConfig, not
        None``.
    """
    if not isinstance(value, cls):
        article = "an" if cls.__name__[0] in "AEIOU" else "a"
        raise UsageTypeError(
            f"{name} must be {article} {cls.__name__}, not {value!r}", parameter=name
        )
    return value
