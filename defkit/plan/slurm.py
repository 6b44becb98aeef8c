"""`defkit build --slurm`: the plan's misses as Slurm jobs, watched until each has an outcome.

One batch job per build (its script is the plan's job script: it builds into the cache and
places the image at its output), submitted in dependency order with
`--dependency=afterok:<the jobs it bootstraps from>` and `--kill-on-invalid-dep=yes`, so a
failed build cancels exactly the builds that need it, and nothing is left pending forever.
Each job writes its log to `LOG_DIR/NAME-JOBID.log`. Progress comes from `squeue` (every state,
finished jobs included while the controller keeps them), then `sacct`; what neither knows any
more is judged by whether the image is at its output.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Optional

from defkit.errors import BuildError, DefkitError
from defkit.plan.formats import script
from defkit.plan.probe import Plan, Planned
from defkit.runner import Runner, run

#: What defkit says about a build, from Slurm's job states.
PENDING, RUNNING, DONE, FAILED, NOT_BUILT = "pending", "running", "done", "failed", "not built"
FINAL = (DONE, FAILED, NOT_BUILT)

_SLURM_STATES = {
    "PENDING": PENDING, "CONFIGURING": PENDING, "REQUEUED": PENDING, "RESV_DEL_HOLD": PENDING,
    "REQUEUE_HOLD": PENDING, "REQUEUE_FED": PENDING, "SUSPENDED": RUNNING, "RUNNING": RUNNING,
    "COMPLETING": RUNNING, "STAGE_OUT": RUNNING, "SIGNALING": RUNNING, "RESIZING": RUNNING,
    "COMPLETED": DONE, "FAILED": FAILED, "TIMEOUT": FAILED, "NODE_FAIL": FAILED,
    "OUT_OF_MEMORY": FAILED, "BOOT_FAIL": FAILED, "DEADLINE": FAILED, "PREEMPTED": FAILED,
    "REVOKED": FAILED, "CANCELLED": NOT_BUILT,
}  # fmt: skip


@dataclass(frozen=True)
class SlurmOptions:
    partition: Optional[str] = None
    account: Optional[str] = None
    time: Optional[str] = None  # sbatch --time (e.g. 2:00:00)
    log_dir: str = "defkit-slurm-logs"

    def sbatch_argv(self) -> list[str]:
        words = []
        if self.partition:
            words.append(f"--partition={self.partition}")
        if self.account:
            words.append(f"--account={self.account}")
        if self.time:
            words.append(f"--time={self.time}")
        return words


@dataclass(frozen=True)
class Job:
    planned: Planned
    job_id: str  # "" when it was never submitted (a dependency had failed already)
    log: str

    @property
    def name(self) -> str:
        return self.planned.build.name


@dataclass(frozen=True)
class Outcome:
    job: Job
    status: str  # one of FINAL
    detail: str  # the Slurm state and reason, or why it was not built


def job_script(planned: Planned, plan: Plan) -> str:
    """The batch script of one build: the plan's job lines, stopping at the first failure."""
    lines = ["#!/bin/bash", f"# defkit build of {planned.build.name}", "set -euo pipefail",
             *script(planned, plan)]
    return "\n".join(lines) + "\n"


def submit(plan: Plan, options: SlurmOptions, *, runner: Runner = run) -> list[Job]:
    """Submit every miss of `plan`, dependencies first; the jobs in submission order."""
    directory = os.getcwd()
    log_dir = os.path.abspath(options.log_dir)
    os.makedirs(log_dir, exist_ok=True)  # Slurm does not create the log's directory
    jobs: dict[str, Job] = {}
    for planned in plan.misses:
        name = planned.build.name
        after = [jobs[need].job_id for need in planned.build.needs if need in jobs]
        if any(not job_id for job_id in after):  # a dependency was never submitted
            jobs[name] = Job(planned, "", "")
            continue
        argv = ["sbatch", "--parsable", f"--job-name=defkit-{name}", f"--chdir={directory}",
                f"--output={os.path.join(log_dir, name)}-%j.log", "--kill-on-invalid-dep=yes",
                *options.sbatch_argv()]
        if after:
            argv.append("--dependency=afterok:" + ":".join(after))
        done = runner(argv, input=job_script(planned, plan).encode(), capture=True)
        message = (done.stderr or b"").decode("utf-8", "replace").strip()
        if done.returncode != 0:
            if after and "dependency" in message.lower():
                # A dependency failed before this was submitted: Slurm refuses the job.
                jobs[name] = Job(planned, "", "")
                continue
            raise BuildError(f"sbatch refused the build of {name}: {message or 'no message'}")
        job_id = (done.stdout or b"").decode().strip().split(";")[0]
        jobs[name] = Job(planned, job_id, os.path.join(log_dir, f"{name}-{job_id}.log"))
    return list(jobs.values())


def _query(runner: Runner, argv: Sequence[str]) -> Optional[dict[str, tuple[str, str]]]:
    """job id -> (state, reason) from `squeue`/`sacct` output of `ID|STATE|REASON` lines; None
    when the command failed (the controller is busy: ask again later)."""
    done = runner(argv, capture=True)
    if done.returncode != 0:
        return None
    found = {}
    for line in (done.stdout or b"").decode("utf-8", "replace").splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 2 and parts[0]:
            state = parts[1].split()[0] if parts[1].strip() else ""
            found[parts[0]] = (state.rstrip("+"), parts[2] if len(parts) > 2 else "")
    return found


def states(job_ids: Sequence[str], *, runner: Runner = run
           ) -> Optional[dict[str, tuple[str, str]]]:
    """The Slurm state and reason of each job that the controller or accounting still knows;
    None when `squeue` could not answer."""
    if not job_ids:
        return {}
    # The user's jobs rather than `-j IDS`: squeue rejects the whole list when one of the jobs
    # has been purged already.
    listed = _query(runner, ["squeue", "-h", "-t", "all", "--me", "-o", "%i|%T|%r"])
    if listed is None:
        return None
    found = {job_id: listed[job_id] for job_id in job_ids if job_id in listed}
    missing = [job_id for job_id in job_ids if job_id not in found]
    if missing:
        # No sacct on this machine, or no accounting: squeue and the outputs decide.
        with contextlib.suppress(DefkitError):
            found.update(_query(runner, ["sacct", "-n", "-X", "-P", "-j", ",".join(missing),
                                         "-o", "JobID,State,Reason"]) or {})
    return found


def _outcome(job: Job, state: str, reason: str) -> tuple[str, str]:
    status = _SLURM_STATES.get(state, "")
    detail = state + (f" ({reason})" if reason and reason != "None" else "")
    if status == PENDING and "DependencyNeverSatisfied" in reason:
        # A Slurm that keeps such jobs (kill_invalid_depend off, the flag not honoured): it
        # would wait forever. `watch` cancels it.
        status = NOT_BUILT
    if status == NOT_BUILT and "Dependency" in reason:
        needs = ", ".join(job.planned.build.needs)
        return NOT_BUILT, f"cancelled by Slurm: a build it needs ({needs}) did not build"
    if status == DONE and not os.path.exists(job.planned.build.output):
        return FAILED, f"the job completed but left no image at {job.planned.build.output}"
    return status, detail


def watch(jobs: Sequence[Job], on_change: Callable[[Job, str, str], None], *,
          runner: Runner = run, poll: float = 2.0, timeout: Optional[float] = None
          ) -> list[Outcome]:
    """Poll until every job has an outcome, calling `on_change(job, status, detail)` whenever
    a build's status changes. A job Slurm no longer knows is done when its image is there."""
    seen: dict[str, str] = {}
    outcomes: dict[str, Outcome] = {}
    by_name = {job.name: job for job in jobs}
    for job in jobs:
        if not job.job_id:
            needs = ", ".join(need for need in job.planned.build.needs if need in by_name)
            detail = f"a build it needs ({needs}) failed before it could be submitted"
            outcomes[job.name] = Outcome(job, NOT_BUILT, detail)
            on_change(job, NOT_BUILT, detail)
    deadline = None if timeout is None else time.monotonic() + timeout
    while len(outcomes) < len(jobs):
        waiting = [job for job in jobs if job.name not in outcomes]
        answer = states([job.job_id for job in waiting], runner=runner)
        known = answer if answer is not None else {}
        for job in waiting:
            if answer is None:
                break  # squeue did not answer: ask again after the pause
            if job.job_id in known:
                status, detail = _outcome(job, *known[job.job_id])
            elif os.path.exists(job.planned.build.output):
                status, detail = DONE, "no longer known to Slurm; the image is there"
            else:
                status, detail = FAILED, "no longer known to Slurm, and no image"
            if not status:
                continue
            if seen.get(job.name) != status:
                seen[job.name] = status
                on_change(job, status, detail)
            if status in FINAL:
                outcomes[job.name] = Outcome(job, status, detail)
                if known.get(job.job_id, ("", ""))[0] == "PENDING":
                    cancel([job], runner=runner)
        if len(outcomes) < len(jobs):
            if deadline is not None and time.monotonic() > deadline:
                raise BuildError("the Slurm jobs did not finish in time: "
                                 + ", ".join(f"{j.name} (job {j.job_id})" for j in waiting))
            time.sleep(poll)
    return [outcomes[job.name] for job in jobs]


def cancel(jobs: Sequence[Job], *, runner: Runner = run) -> None:
    """Cancel the jobs that were submitted (Ctrl-C while waiting)."""
    ids = [job.job_id for job in jobs if job.job_id]
    if ids:
        runner(["scancel", *ids], capture=True)
