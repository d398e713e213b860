"""Examine workers load the configured image classifiers when they start (issue 24 leftover), so the first
picture's deadline measures the picture, not a model's load. The built-in photoreal heuristic stands in for
any classifier (it needs no model file)."""

from bastion import classifiers
from bastion.examine import WorkerPool


def test_a_worker_has_its_classifiers_loaded_before_its_first_task():
    with WorkerPool(1, classifiers=("photoreal",)) as pool:
        pool.start()
        names, _ = pool.run(classifiers.loaded, deadline=60)
        assert names == ("photoreal",)
    with WorkerPool(1) as plain:
        names, _ = plain.run(classifiers.loaded, deadline=60)
        assert names == ()  # nothing asked: nothing loaded (the first picture would load what it needs)


def test_a_classifier_that_cannot_load_does_not_stop_the_worker():
    """Unavailable at start: remembered, the worker still starts and answers (each picture then says so)."""
    with WorkerPool(1, classifiers=("photoreal", "no-such-classifier")) as pool:
        names, _ = pool.run(classifiers.loaded, deadline=60)
        assert names == ("photoreal",)
