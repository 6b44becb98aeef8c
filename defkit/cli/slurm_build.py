"""`defkit build --slurm`: plan the given defs, submit the misses to Slurm, show each build's
progress (pending, running, done) and end with what failed and where its log is."""

from __future__ import annotations

from typing import Optional

import click

from defkit.errors import UsageError


def build_on_slurm(paths: tuple[str, ...], *, partition: Optional[str], account: Optional[str],
                   time_limit: Optional[str], wait: bool, fakeroot: bool, arch: Optional[str],
                   notest: bool, cache_ttl: Optional[str], cache_from: tuple[str, ...],
                   cache_to: Optional[str], insecure: bool) -> int:
    from defkit.lint.files import expand_paths
    from defkit.plan.graph import collect
    from defkit.plan.probe import BuildOptions, make_plan
    from defkit.plan.slurm import DONE, FAILED, Job, SlurmOptions, cancel, submit, watch

    def_paths = [path for path in expand_paths(paths) if path != "-"]
    if not def_paths:
        raise UsageError("no definition files found")
    options = BuildOptions(fakeroot=fakeroot, arch=arch, notest=notest, cache_ttl=cache_ttl,
                           cache_from=cache_from, cache_to=cache_to, insecure=insecure)
    plan = make_plan(collect(def_paths), options)
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    for planned in plan.builds:
        if planned not in plan.misses:
            click.echo(f"defkit: {planned.build.name} cached ({planned.where or planned.status})",
                       err=True)
    if not plan.misses:
        click.echo("defkit: every image is in the cache: nothing submitted", err=True)
        return 0
    jobs = submit(plan, SlurmOptions(partition=partition, account=account, time=time_limit))
    if not wait:
        for job in jobs:
            click.echo(f"{job.name}\t{job.job_id or '-'}")
        return 0

    def show(job: Job, status: str, detail: str) -> None:
        where = f" (job {job.job_id})" if job.job_id else ""
        extra = f": {detail}" if status not in ("pending", "running", DONE) else ""
        click.echo(f"defkit: {job.name}{where} {status}{extra}", err=True)

    try:
        outcomes = watch(jobs, show)
    except KeyboardInterrupt:
        cancel(jobs)
        raise
    built = [o for o in outcomes if o.status == DONE]
    failed = [o for o in outcomes if o.status == FAILED]
    skipped = [o for o in outcomes if o.status not in (DONE, FAILED)]
    for outcome in failed:
        click.echo(f"defkit: {outcome.job.name} failed ({outcome.detail}); log: {outcome.job.log}",
                   err=True)
    click.echo(f"defkit: {len(built)} built, {len(failed)} failed, {len(skipped)} not built",
               err=True)
    return 1 if failed or skipped else 0
