"""Batch runs over many files, in this process or across a Ray cluster, resumable by a manifest.

    from facepipe.apps.batch import AnonymizeTask, BatchOptions, plan_anonymize, run_batch

    plan = plan_anonymize(["archive/"], Path("out"), recursive=True)
    summary = run_batch(AnonymizeTask(AnonymizeOptions()), plan.items, plan.manifest_dir,
                        BatchOptions(ray="auto"))   # ray=None: in this process

Ray is optional (`pip install 'facepipe[ray]'`); see docs/scaling.md.
"""

from facepipe.apps.batch.identify import IdentifyTask
from facepipe.apps.batch.index import IndexLedger, IndexTask
from facepipe.apps.batch.manifest import MANIFEST_NAME, Manifest, ManifestLedger, file_sha256, settings_sha256
from facepipe.apps.batch.plan import Plan, plan_analyze, plan_anonymize, plan_identify, plan_index
from facepipe.apps.batch.runner import BatchOptions, BatchSummary, Ledger, run_batch
from facepipe.apps.batch.tasks import AnalyzeTask, AnonymizeTask, BatchWorker, ItemResult, Processed, WorkItem

__all__ = [
    "MANIFEST_NAME",
    "AnalyzeTask",
    "AnonymizeTask",
    "BatchOptions",
    "BatchSummary",
    "BatchWorker",
    "IdentifyTask",
    "IndexLedger",
    "IndexTask",
    "ItemResult",
    "Ledger",
    "Manifest",
    "ManifestLedger",
    "Plan",
    "Processed",
    "WorkItem",
    "file_sha256",
    "plan_analyze",
    "plan_anonymize",
    "plan_identify",
    "plan_index",
    "run_batch",
    "settings_sha256",
]
