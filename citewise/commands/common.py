"""What every command shares: settings loading, the console, JSON output and error exits."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

from citewise.errors import CitewiseError, ConfigError, InvalidRequest
from citewise.offline import apply_offline_defaults
from citewise.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True)

EXIT_OK = 0
EXIT_USAGE = 2  # bad arguments or settings: fix the command line or the environment
EXIT_ENV = 1  # the environment failed (index unreachable, model missing)
EXIT_PARTIAL = 3  # the run completed, but some inputs failed
EXIT_INTERRUPTED = 130  # Ctrl-C: the shell's convention (128 + SIGINT)


def settings() -> Settings:
    apply_offline_defaults()
    return load_settings()


def without_rerank(cfg: Settings) -> Settings:
    """``cfg`` with reranking turned off (``--no-rerank``)."""
    return cfg.model_copy(update={"retrieval": cfg.retrieval.model_copy(update={"rerank": False})})


def read_scope(no_rerank: bool, tenant: str, groups: list[str], filters: list[str]) -> tuple[Settings, Any]:
    """What ``search``, ``ask`` and ``chat`` read with: the settings (reranking off with ``--no-rerank``) and the
    filter of ``--tenant``, ``--group`` (ACLs checked only when given) and ``--filter``."""
    from citewise.types import checked_names
    from retrieval import access_filter, parse_filter_args

    cfg = settings()
    if no_rerank:
        cfg = without_rerank(cfg)
    flt = access_filter(tenant, checked_names(groups, "--group") if groups else None) & parse_filter_args(filters)
    return cfg, flt


def rerank_notice(retriever: Any) -> None:
    """One line on stderr when reranking is on but cannot happen (resolved cheaply, no model load)."""
    state = retriever.reranker_state()
    if state.state == "unavailable":
        err_console.print(f"[yellow]no reranking:[/yellow] {state.reason}", highlight=False, soft_wrap=True)


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump(mode="json"))
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


# What a command's user should know after Ctrl-C, by command function name.
INTERRUPT_HINT = {
    "ingest": "re-run the same command to resume (finished files are not redone)",
    "encoder": "a re-encode that had started continues with `citewise tune encoder --collection NAME`",
}


def handle_errors(fn: F) -> F:
    """Turn citewise errors into a one-paragraph message on stderr and an exit code, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConfigError, InvalidRequest) as exc:
            err_console.print(f"[red]error:[/red] {exc.message}", highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
        except CitewiseError as exc:
            err_console.print(f"[red]error ({exc.code}):[/red] {exc.message}", highlight=False)
            raise typer.Exit(EXIT_ENV) from None
        except KeyboardInterrupt:
            err_console.print(f"interrupted; {INTERRUPT_HINT.get(fn.__name__, 'nothing was left half-done')}")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]
