"""``bastion consume``: stream intake from a message broker (RabbitMQ, NATS JetStream), verdicts to another queue."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bastion.cli.app import app
from bastion.cli.common import EXIT_ERROR, err, fail, handle_errors, json_line, settings_of


@app.command()
@handle_errors
def consume(
    ctx: typer.Context,
    queue: Optional[str] = typer.Option(None, help="Queue items are read from (default: BASTION_CONSUME_QUEUE, else bastion.items)."),
    verdicts: Optional[str] = typer.Option(None, help="Queue verdicts are published to (default: BASTION_VERDICT_QUEUE, else bastion.verdicts)."),
    dead_letter: Optional[str] = typer.Option(None, help="Queue for messages that are not valid items, with the reason "
                                                         "(default: BASTION_DEAD_LETTER_QUEUE, else bastion.items.dead)."),
    prefetch: Optional[int] = typer.Option(None, min=1, max=65535,
                                           help="Messages held unacknowledged at once (default: BASTION_CONSUME_PREFETCH, else 64)."),
    policy: Optional[Path] = typer.Option(None, "--policy", exists=True, dir_okay=False,
                                          help="Policy YAML (default: BASTION_POLICY, else the shipped policy)."),
    examine_workers: Optional[int] = typer.Option(None, min=1, max=64,
                                                  help="Processes examining media (default: BASTION_EXAMINE_WORKERS, else the cores, at most 4)."),
    idle_exit: float = typer.Option(0.0, min=0, help="Stop once the queue has been empty this many seconds (0: run until stopped)."),
) -> None:
    """Read items from a message broker (RabbitMQ, NATS JetStream) and publish their verdicts to another queue, at-least-once."""
    import asyncio
    import signal

    from bastion.api.app import build_service, configure_logging, settle_heap
    from bastion.store.checkpoint import start_checkpointer
    from bastion.stream.consumer import Consumer
    from bastion.stream.adapters import broker_for
    from bastion.stream.settings import ConsumeSettings

    settings = settings_of(ctx, ConsumeSettings)
    flags = {"consume_queue": queue, "verdict_queue": verdicts, "dead_letter_queue": dead_letter,
             "consume_prefetch": prefetch, "policy_path": policy, "examine_workers": examine_workers}
    settings = settings.model_copy(update={k: v for k, v in flags.items() if v is not None})
    configure_logging(settings.json_logs)
    broker = broker_for(settings)  # before the service: an unknown URL scheme is refused first
    service = build_service(settings)
    consumer = Consumer(service, broker, max_bytes=settings.max_body_bytes, retry_seconds=settings.consume_retry_seconds,
                        refresh_seconds=settings.poll_seconds, threads=min(settings.consume_prefetch, 32))

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await consumer.run(idle_exit=idle_exit or None, stop=stop)

    err.print(f"bastion consume ({broker.name}): {settings.consume_queue} -> {settings.verdict_queue} "
              f"(dead letters: {settings.dead_letter_queue}, prefetch {settings.consume_prefetch})")
    checkpointer = None
    try:
        if service.examiner.pool is not None:
            service.examiner.pool.start()
        # as each `bastion serve` process does: SQLite's WAL checkpoints in a thread of their own, not in the
        # writer's commits, and start-up's objects out of the garbage collector's way (api/app.py)
        checkpointer = start_checkpointer(service.store)
        settle_heap(service)
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                stats = runner.run(main())
        except OSError as exc:  # connection refused, name not known: nothing was read, nothing is lost
            fail(f"cannot reach the broker: {exc}")
    finally:
        service.examiner.close()
        if checkpointer is not None:
            checkpointer.close()
        service.store.close()
    typer.echo(json_line({"received": stats.received, "verdicts": stats.verdicts, "dead_lettered": stats.dead_lettered,
               "retried": stats.retried, "redelivered": stats.redelivered, "dead_letter_reasons": stats.by_reason,
               "acknowledgements": getattr(broker, "ack_frames", None), "error": stats.error}))
    if stats.error:
        fail(stats.error, EXIT_ERROR)


def _loop_factory():
    """The event loop ``bastion serve`` runs on: uvloop where it is installed (uvicorn's ``standard`` extra, a
    dependency of Bastion, installs it except on Windows and PyPy; uvicorn's default picks it), else asyncio's.
    The consumer spends about a fifth of its time in the loop's own work (tasks and futures per message)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
