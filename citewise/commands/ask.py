"""``citewise ask QUESTION``: an answer with checked citations, as text, a token stream or one JSON object."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import typer

from citewise.commands.common import (
    console,
    err_console,
    handle_errors,
    print_json,
    read_scope,
    rerank_notice,
)
from citewise.commands.handoff import find_server

EXIT_ABSTAINED = 4

HELP = """Answer a question from the indexed documents, citing them as [1], [2] with exact quotes.

The LLM comes from CITEWISE_GENERATION__LLM (extractive, openai, openai-like, ollama, anthropic) or --llm
(PROVIDER or PROVIDER:MODEL). The default, extractive, needs no LLM: it quotes the best-matching sentences.
Every answer sentence is checked against the passages it cites; when the evidence is too weak the answer
says the documents do not contain it and lists the closest sources.

Filters as in `citewise search`: doc_id=ID, source=PATH_PREFIX, file_type=pdf, tag=key=value,
modified_after=DATE, modified_before=DATE.

Exit codes: 0 answered; 4 abstained (the documents do not contain the answer); 2 bad arguments or settings
(unknown prompt, missing model/key/URL); 1 the index, a model or the LLM failed (unreachable, timeout).
"""


@handle_errors
def ask(
    question: str = typer.Argument(..., help="The question."),
    k: int = typer.Option(5, "--k", min=1, max=50, help="How many passages to retrieve."),
    filters: list[str] = typer.Option([], "--filter", help="key=value filter; repeatable."),
    llm: str = typer.Option(None, "--llm", help="PROVIDER or PROVIDER:MODEL (default: CITEWISE_GENERATION__LLM)."),
    prompt: str = typer.Option(None, "--prompt", help="NAME@VERSION (default: CITEWISE_GENERATION__PROMPT)."),
    stream: bool = typer.Option(
        False, "--stream", help="Show tokens as they come, then the verified answer in their place (not with --json)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (answer, citations, sentences...)."),
    tenant: str = typer.Option("default", "--tenant", help="Answer only from this tenant's documents."),
    groups: list[str] = typer.Option(
        [], "--group", help="Read as a member of this ACL group (repeatable); without it, ACLs are not checked."
    ),
    collection: str = typer.Option(None, "--collection", help="Collection (default: CITEWISE_QDRANT__COLLECTION)."),
    no_rerank: bool = typer.Option(False, "--no-rerank", help="Skip the cross-encoder reranker."),
) -> None:
    from retrieval import Retriever

    cfg, flt = read_scope(no_rerank, tenant, groups, filters)
    server = find_server(cfg)
    if server is not None:  # the server that owns the data dir answers (same output, same token stream)
        body = {"question": question, "k": k, "filters": filters, "llm": llm, "prompt": prompt, "tenant": tenant}
        scope = {"groups": groups or None, "collection": collection or cfg.qdrant.collection}
        request = {**body, **scope, "rerank": False if no_rerank else None}
        if stream and not as_json:
            streamed = server.events("/v1/local/ask", json={**request, "stream": True})
            data = show_stream((kind, d["text"] if kind == "token" else d) for kind, d in streamed)
        else:
            data = server.call("POST", "/v1/local/ask", json=request)
    else:
        retriever = Retriever.from_settings(cfg, collection)
        try:
            from generation import Answerer, answer_json  # not on the hand-off path

            rerank_notice(retriever)
            answerer = Answerer.from_settings(cfg, retriever)
            if stream and not as_json:
                data = show_stream(as_pairs(answerer.stream(question, k=k, filters=flt, llm=llm, prompt=prompt)))
            else:
                data = answer_json(answerer.answer(question, k=k, filters=flt, llm=llm, prompt=prompt))
        finally:
            retriever.index.close()
    if as_json:
        print_json(data)
    else:
        _print(data)
    if data["abstained"]:
        raise typer.Exit(EXIT_ABSTAINED)


def as_pairs(events: Iterable[Any]) -> Iterator[tuple[str, Any]]:
    """An ``Answerer.stream`` as ``show_stream``'s ``(kind, data)`` pairs (the answer as its JSON)."""
    from generation import answer_json

    for event in events:
        yield event.kind, answer_json(event.data) if event.kind == "done" else event.data


def show_stream(events: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Raw tokens as they come (dim, on a terminal only), replaced by nothing: the verified answer follows.

    ``events`` are ``(kind, data)``: ``token`` (text), ``error`` (``{"code", "message"}``) or ``done`` (the
    answer's JSON, returned). Whatever verification removes (unsupported or off-question sentences, echoed
    prompt text) never stays on screen; piped output holds the verified answer alone.
    """
    from rich.live import Live
    from rich.text import Text

    raw = Text(style="dim")
    answer: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    with Live(raw, console=console, transient=True, auto_refresh=False) as live:
        for kind, data in events:
            if kind == "token":
                raw.append(data)
                live.refresh()
            elif kind == "error":
                error = data
                break
            elif kind == "done":
                answer = data
    if error is None and answer is None:
        error = {"code": "stream_ended", "message": "the answer stream ended before the answer; ask again"}
    if error is not None:
        err_console.print(f"[red]error ({error['code']}):[/red] {error['message']}")
        raise typer.Exit(1)
    assert answer is not None
    return answer


def _print(answer: dict[str, Any]) -> None:
    """An answer's ``answer_json``: the text, flagged sentences, the citations and a line of usage."""
    console.print(answer["answer"], highlight=False)
    for s in answer["sentences"]:
        if s["shown"] and s["reason"]:  # flag mode: shown, marked
            console.print(f"[yellow]{s['reason'].replace('_', ' ')}:[/yellow] {s['text']}", highlight=False)
    if answer["fallback_from"]:
        console.print(
            f"[dim]quoted extractively: the answer of {answer['fallback_from']} kept no supported sentence "
            "that answers the question[/dim]"
        )
    console.print()
    print_citations(answer["citations"])
    u = answer["usage"]
    console.print(
        f"{answer['model']} · {answer['prompt']} · tokens {u['prompt_tokens']}+{u['completion_tokens']}"
        f"{' (est.)' if u['estimated'] else ''} · ${u['cost_usd']:.6f} · "
        + " · ".join(f"{name} {ms:.0f} ms" for name, ms in answer["timings_ms"].items()),
        style="dim",
    )


def print_citations(citations: list[dict[str, Any]]) -> None:
    """Each citation: number, title, source, page, character span, and the quote (first 300 characters)."""
    for c in citations:
        page = f", p. {c['page']}" if c["page"] is not None else ""
        page += ", OCR" if c.get("ocr") else ""
        quote = " ".join(c["quote"].split())
        console.print(
            f"[bold][{c['n']}][/bold] {c['title'] or c['source']} ({c['source']}{page}, "
            f"chars {c['char_start']}-{c['char_end']})"
        )
        console.print(f'    "{quote[:300]}{"…" if len(quote) > 300 else ""}"', highlight=False, style="dim")


def register(root: typer.Typer) -> None:
    root.command("ask", help=HELP)(ask)
