"""The check of the task an ok record names (:mod:`benchmarks.results.tasks`): a known task id,
the one its cell names, a declared version, and the digests recomputed from the predictions.
"""

from __future__ import annotations

from typing import Any


def _check_task(rec: dict[str, Any], say) -> None:
    """The record's ``task`` (:mod:`benchmarks.results.tasks`): a known task id, the one its cell
    names; a declared version, or ``"unknown version"`` reported as such; the version the
    digests resolve to; and, where the record holds its whole test split's predictions (trained
    and published records), the ids/labels digest recomputed from them equal to the stored one."""
    from benchmarks.results import tasks as T
    from datasets.common import UnknownNameError

    task = rec.get("task")
    if not isinstance(task, dict):
        say("task", "missing: an ok record names the task it was scored on")
        return
    tid, version = task.get("id"), task.get("version")
    try:
        T.get_task(str(tid))
    except UnknownNameError as exc:
        say("task.id", f"{exc}")
        return
    want_id = T.task_id_of_cell(rec.get("cell"))
    if want_id != tid:
        say("task.id", f"= {tid!r} but the record's cell is of task {want_id!r}")
    ids, content = task.get("ids_labels_digest"), task.get("content_digest")
    preds = rec.get("predictions")
    if rec.get("kind") not in ("robustness", "deployment") and preds:
        got = T.predictions_digest(preds)
        if got != ids:
            say("task.ids_labels_digest", f"= {ids!r} but the predictions' sequence ids and "
                                          f"labels give {got!r}")
    known = [v.version for v in T.known_versions(str(tid))]
    resolved = T.resolve(str(tid), ids, content)
    if version == T.UNKNOWN_VERSION and ids is None and rec.get("kind") in T.SUBSET_KINDS:
        return  # a subset's record from before schema 4: its version cannot be derived from it
    if version == T.UNKNOWN_VERSION:
        say("task.version", f"unknown version: the test split's digests match no declared "
                            f"version of task {tid!r} (declared: {', '.join(known) or 'none'})")
    elif version not in known:
        say("task.version", f"= {version!r} is not a declared version of task {tid!r} "
                            f"(declared: {', '.join(known) or 'none'})")
    elif resolved is None or resolved.version != version:
        say("task.version", f"= {version!r} but the stored digests match "
                            f"{'no declared version' if resolved is None else repr(resolved.version)}")
