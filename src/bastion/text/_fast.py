"""Cheap construction of frozen, slotted dataclass instances on the per-text hot path.

Why: a frozen dataclass's generated ``__init__`` sets every field through ``object.__setattr__`` (the class
forbids plain assignment), which costs about 2.7 µs for a nine-field :class:`~bastion.model.Signal` on the
reference machine; every text builds a :class:`~bastion.text.normalize.FoldedText` and every hit a signal
and a detector hit. Writing the slots through their member descriptors produces the identical object
(same class, same field values, same equality and hash) in about half the time.

Only for classes whose ``__init__`` does nothing but store its arguments: no ``__post_init__``, no
``InitVar``, no ``init=False`` fields. :func:`frozen_builder` checks that and otherwise returns the class
itself, so a change to such a class can never produce half-built objects.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

__all__ = ["frozen_builder"]

T = TypeVar("T")


def frozen_builder(cls: type[T]) -> Callable[..., T]:
    """A function taking every field positionally (in declaration order) and returning a ``cls``."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__") or "__slots__" not in cls.__dict__:
        return cls
    fields = dataclasses.fields(cls)
    if any(not f.init for f in fields) or len(fields) != len(cls.__slots__):
        return cls
    names = [f.name for f in fields]
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for n in names:
        env[f"_set_{n}"] = cls.__dict__[n].__set__  # the slot's member descriptor
    args = ", ".join(names)
    body = "".join(f"    _set_{n}(o, {n})\n" for n in names)
    src = f"def build({args}):\n    o = _new(_cls)\n{body}    return o\n"
    exec(src, env)  # noqa: S102 -- a fixed template over field names, like dataclasses' own __init__
    build = env["build"]
    build.__doc__ = f"Build a {cls.__name__} from its fields in order (see bastion.text._fast)."
    return build
