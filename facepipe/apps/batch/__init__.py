"""Batch runs over many files, in this process or across a Ray cluster, resumable by a manifest.

    from facepipe.apps.batch import AnonymizeTask, BatchOptions, plan_anonymize, run_batch

    plan = plan_anonymize(["archive/"], Path("out"), recursive=True)
    summary = run_batch(AnonymizeTask(AnonymizeOptions()), plan.items, plan.manifest_dir,
                        BatchOptions(ray="auto"))   # ray=None: in this process

Ray is optional (`pip install 'facepipe[ray]'`); see docs/scaling.md.
"""

from facepipe.apps.batch.manifest import MANIFEST_NAME, Manifest, file_sha256, settings_sha256
from facepipe.apps.batch.plan import Plan, plan_analyze, plan_anonymize
from facepipe.apps.batch.runner import BatchOptions, BatchSummary, run_batch
from facepipe.apps.batch.tasks import AnalyzeTask, AnonymizeTask, BatchWorker, ItemResult, WorkItem

__all__ = [
    "MANIFEST_NAME",
    "AnalyzeTask",
    "AnonymizeTask",
    "BatchOptions",
    "BatchSummary",
    "BatchWorker",
    "ItemResult",
    "Manifest",
    "Plan",
    "WorkItem",
    "file_sha256",
    "plan_analyze",
    "plan_anonymize",
    "run_batch",
    "settings_sha256",
]
